"""The fixed part of a style-transfer run: the images, the targets, the masks and the loss.

:class:`Problem` loads the content and style images at the run's size, recolours them for colour
preservation, checks the style blend and masks, loads the backbone and its extractor, computes the
content targets and the style Gram matrices once, and holds the library's one loss
(:class:`nst_helpers.losses.PerceptualLoss`) and the starting image. The optimisers of
:mod:`nst_helpers.optimize` run on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import losses
from ._tf import Tensor, tf as _tf
from .backbone import (
    Backbone,
    FeatureExtractor,
    bfloat16_hardware,
    load_backbone,
    resolve_precision,
)
from .color import luminance_image, match_colors, match_histogram
from .config import StyleConfig
from .errors import NSTError
from .images import ImageSource, load_image, load_mask, resize, to_vgg

tf = _tf()

__all__ = ["Problem", "as_list"]


def as_list(x: Any) -> list[Any]:
    """``x`` as a list: a list or tuple as it is, anything else as the one item."""
    return list(x) if isinstance(x, (list, tuple)) else [x]


class Problem:
    """The fixed part of a run: targets, masks and the loss function of an image in VGG space."""

    def __init__(
        self,
        content: ImageSource,
        style: ImageSource | Sequence[ImageSource],
        config: StyleConfig,
        style_blend: float | Sequence[float] | None = None,
        style_masks: Any = None,
        verbose: bool = True,
    ) -> None:
        if config.precision == "auto":  # the result says which arithmetic made it
            config = config.replace(precision=resolve_precision("auto"))
        self.config = config
        side = config.max_side
        self.content = load_image(content, max_side=side, name="content image")
        styles = as_list(style)
        if not styles:
            raise NSTError("give at least one style image.")
        # Cheap checks first, so bad values fail before the network is loaded.
        self.blend = self._blend(style_blend, len(styles), masked=style_masks is not None)
        full_masks = self._masks(style_masks, len(styles))
        self.styles = [
            load_image(
                s, max_side=side, name=f"style image {i + 1}" if len(styles) > 1 else "style image"
            )
            for i, s in enumerate(styles)
        ]
        #: The content image in colour; ``self.content`` is what the network sees (grey with
        #: ``preserve_color="luminance"``).
        self.color_content = self.content
        if config.preserve_color == "histogram":  # recolour the styles with the content's colours
            self.styles = [match_histogram(s, self.content) for s in self.styles]
        elif config.preserve_color == "luminance":  # transfer on luminance only (Gatys et al. 2017)
            self.styles = [luminance_image(s, like=self.content) for s in self.styles]
            self.content = luminance_image(self.content)
        self.backbone, self.extractor = self._network(config, verbose)
        content_feats = self.extractor(to_vgg(self.content))
        self.content_targets = {l: tf.constant(content_feats[l]) for l in config.content_layers}
        #: Per style: None (everywhere) or ``{style layer: (h, w) mask at that layer's resolution}``.
        self.masks = [self._layer_masks(m, content_feats) for m in full_masks]
        #: The loss, the library's one (:class:`nst_helpers.losses.PerceptualLoss`).
        self.loss = losses.PerceptualLoss(
            self.extractor, config, [to_vgg(img) for img in self.styles], self.blend, self.masks
        )
        self.style_grams = self.loss.style_grams
        self.layer_weights = self.loss.layer_weights

    @staticmethod
    def _network(config: StyleConfig, verbose: bool) -> tuple[Backbone, FeatureExtractor]:
        """The backbone and its extractor of the content and style layers, at the precision asked."""
        backbone = load_backbone(config.backbone, verbose=verbose)
        layers = list(config.content_layers) + list(config.style_layers)
        backbone.check_layers(layers)
        extractor = backbone.extractor(
            layers, pooling=config.pooling, trainable=config.trainable, precision=config.precision
        )
        if verbose and config.precision == "bfloat16" and not bfloat16_hardware():
            print(
                "Note: this CPU has no bfloat16 instructions (AMX or AVX512-BF16), so "
                "precision='bfloat16' will be slower than float32 here."
            )
        return backbone, extractor

    def _layer_masks(
        self, mask: np.ndarray | None, content_feats: dict[str, Tensor]
    ) -> dict[str, Tensor] | None:
        """A full-size mask at each style layer's resolution (area-averaged), or None."""
        if mask is None:
            return None
        return {
            l: tf.constant(
                tf.image.resize(mask[..., None], content_feats[l].shape[1:3], method="area")[..., 0]
            )
            for l in self.config.style_layers
        }

    @staticmethod
    def _blend(blend: Any, n: int, masked: bool = False) -> list[float]:
        """One weight per style. Without masks they are shares, scaled to sum to 1 (default equal);
        with masks each style rules its own region, so the weights are used as given (default 1)."""
        if blend is None:
            return [1.0] * n if masked else [1.0 / n] * n
        try:
            blend = [float(b) for b in as_list(blend)]
        except (TypeError, ValueError):
            raise NSTError(
                f"style_blend must be numbers, one per style image, not {blend!r}."
            ) from None
        if len(blend) != n:
            raise NSTError(
                f"style_blend has {len(blend)} weight{'s' if len(blend) != 1 else ''} "
                f"for {n} style image{'s' if n != 1 else ''}; give one per style."
            )
        if any(not math.isfinite(b) or b < 0 for b in blend) or sum(blend) <= 0:
            raise NSTError(
                f"style_blend weights must be zero or positive, and not all zero, not {blend}."
            )
        if masked:
            return blend
        total = sum(blend)
        return [b / total for b in blend]

    def _masks(self, masks: Any, n: int) -> list[np.ndarray | None]:
        """Check the style masks and bring them to the content image's size.

        Returns one ``(H, W)`` float32 array in [0, 1] (or None, for everywhere) per style
        (:func:`nst_helpers.images.load_mask`).
        """
        if masks is None:
            return [None] * n
        if not isinstance(masks, (list, tuple)):  # one mask, for a single style
            masks = [masks]
        masks = list(masks)
        if len(masks) != n:
            raise NSTError(
                f"style_masks has {len(masks)} mask{'s' if len(masks) != 1 else ''} for "
                f"{n} style image{'s' if n != 1 else ''}; give one per style "
                "(None for everywhere)."
            )
        h, w = self.content.shape[:2]
        return [
            None if m is None else load_mask(m, (h, w), name=f"style mask {i + 1}")
            for i, m in enumerate(masks)
        ]

    def losses(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(total, content, style, tv)`` of the VGG-space image ``x``, weights applied."""
        return self.loss(x, self.content_targets)

    def style_layer_losses(self, image: Any) -> dict[str, float]:
        """Each style layer's share of the weighted style loss of ``image`` (uint8 RGB, or VGG space
        ``(1, H, W, 3)``): ``{layer: style_weight * w_l * E_l}``, summed over the style images with
        their blend weights. The values add up to the style term of :meth:`losses`.
        """
        return self.loss.style_layer_losses(
            to_vgg(image) if np.asarray(image).dtype == np.uint8 else image
        )

    def initial_image(self, init_image: ImageSource | None = None) -> Tensor:
        """The starting image in VGG space: content, seeded noise, style statistics or a given one.

        ``"noise"`` is uniform noise and ``"style"`` Gaussian noise with the style images' colour
        mean and spread (blend-weighted); both are drawn from ``config.seed``, so the same seed gives
        the same start. ``"recolored"`` is the content image with the style images' colour mean
        and covariance (:func:`~nst_helpers.color.match_colors`, blend-weighted). With ``preserve_color="luminance"`` the start is turned grey like the rest.
        """
        h, w = self.content.shape[:2]
        if init_image is not None:
            img = load_image(init_image, max_side=None, name="init image")
            if img.shape[:2] != (h, w):
                img = resize(img, size=(h, w))
        elif self.config.init == "content":
            img = self.content
        elif self.config.init == "recolored":  # the content in the styles' colours
            img = match_colors(self.content, self.styles, self.blend)
        elif self.config.init == "noise":
            rng = np.random.default_rng(int(self.config.seed))
            img = rng.uniform(0, 255, size=(h, w, 3)).round().astype(np.uint8)
        else:  # "style": noise with the styles' colour statistics
            weights = np.asarray(self.blend, np.float64) / sum(self.blend)
            pixels = [s.reshape(-1, 3).astype(np.float64) for s in self.styles]
            mean = sum(wt * p.mean(0) for wt, p in zip(weights, pixels))
            second = sum(wt * (p.var(0) + p.mean(0) ** 2) for wt, p in zip(weights, pixels))
            std = np.sqrt(np.maximum(second - mean**2, 0.0)) + 1e-3
            rng = np.random.default_rng(int(self.config.seed))
            img = np.clip(rng.normal(mean, std, size=(h, w, 3)), 0, 255).round().astype(np.uint8)
        if self.config.preserve_color == "luminance" and img is not self.content:
            img = luminance_image(img)
        return to_vgg(img)
