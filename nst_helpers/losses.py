"""The losses of neural style transfer: content, style (via Gram matrices) and total variation.

References:
    Gatys, Ecker & Bethge (2016), "Image Style Transfer Using Convolutional Neural Networks", CVPR.
    Gatys et al. (2017), "Controlling Perceptual Factors in Neural Style Transfer", CVPR (masks).
    Mahendran & Vedaldi (2015), "Understanding Deep Image Representations by Inverting Them"
    (total variation).

Two normalisations are offered, because the course reproduces both:

``"seed"`` (the 2021 course paper this course grew from, and the TensorFlow tutorial it followed)
    Gram matrix divided by the number of positions ``M = H*W``; content and style losses are mean
    squared errors.
``"paper"`` (Gatys et al. 2016, equations 1 and 4)
    content ``L = 1/2 Σ (F − P)²``; style per layer ``E_l = 1/(4 N_l² M_l²) Σ (G − A)²`` with the
    raw Gram matrices ``G, A`` of ``N_l`` channels over ``M_l`` positions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._tf import Tensor, tf as _tf
from .choices import NORMALIZATIONS  # the words the losses' normalization takes
from .errors import NSTError

__all__ = [
    "NORMALIZATIONS",
    "PerceptualLoss",
    "content_loss",
    "gram_matrix",
    "style_layer_loss",
    "style_loss",
    "total_variation_loss",
]

tf = _tf()


def _check_norm(normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise NSTError(f"normalization must be one of {NORMALIZATIONS}, not {normalization!r}.")


def content_loss(generated: Tensor, target: Tensor, normalization: str = "seed") -> Tensor:
    """Content loss between two feature maps of the same shape.

    ``"seed"``: ``mean((F − P)²)``. ``"paper"``: ``1/2 Σ (F − P)²`` (Gatys et al. 2016, eq. 1).

    Args:
        generated: the features of the image being optimised.
        target: the content image's features.
        normalization: one of :data:`NORMALIZATIONS`.

    Returns:
        A float32 scalar tensor.
    """
    _check_norm(normalization)
    sq = tf.square(tf.cast(generated, tf.float32) - tf.cast(target, tf.float32))
    return tf.reduce_mean(sq) if normalization == "seed" else 0.5 * tf.reduce_sum(sq)


@tf.custom_gradient
def _self_gram(f: Tensor) -> tuple[Tensor, Callable[[Tensor], Tensor]]:
    """``FᵀF`` of a ``(positions, channels)`` matrix, with a cheaper gradient.

    ``G = FᵀF`` is symmetric, so the gradient of a loss with respect to ``F`` is ``F (dG + dGᵀ)``:
    one matmul, where automatic differentiation of ``matmul(F, F)`` spends two (one per operand).
    """

    def grad(dg: Tensor) -> Tensor:
        return tf.matmul(f, dg + tf.transpose(dg))

    return tf.matmul(f, f, transpose_a=True), grad


def gram_matrix(features: Tensor, mask: Tensor | None = None, normalize: bool = True) -> Tensor:
    """Gram matrix ``G_ij = Σ_p F_ip F_jp`` of a feature map ``(1, H, W, C)`` or ``(H, W, C)``.

    With ``normalize`` it is divided by the number of positions ``M = H*W``
    (the seed's choice), which makes Gram matrices of different image sizes comparable. With a
    ``mask`` of shape ``(H, W)`` (values in [0, 1]), each position counts with its mask weight and the
    division is by the mask's sum: the style statistics of the masked region only
    (Gatys et al. 2017).

    Args:
        features: the feature map.
        mask: ``(H, W)`` weights in [0, 1], or None for every position.
        normalize: whether to divide by the number of positions (or the mask's sum).

    Returns:
        A float32 tensor of shape ``(C, C)``.
    """
    f = tf.cast(features, tf.float32)
    channels = tf.shape(f)[-1]
    f = tf.reshape(f, [-1, channels])
    if mask is None:
        gram = _self_gram(f)
        count = tf.cast(tf.shape(f)[0], tf.float32)
    else:
        m = tf.reshape(tf.cast(mask, tf.float32), [-1, 1])
        gram = tf.matmul(f * m, f, transpose_a=True)
        count = tf.maximum(tf.reduce_sum(m), 1e-8)
    return gram / count if normalize else gram


def style_layer_loss(
    generated: Tensor, target_gram: Tensor, normalization: str = "seed", mask: Tensor | None = None
) -> Tensor:
    """Style loss of one layer: generated features against the style image's normalised Gram.

    ``target_gram`` is :func:`gram_matrix` of the style image (divided by its positions).
    ``"seed"``: ``mean((G/M − A/M')²)``. ``"paper"``: ``Σ (G/M − A/M')² / (4 N²)``, which is exactly
    ``E_l = 1/(4 N² M²) Σ (G − A)²`` of Gatys et al. (2016, eq. 4) when both images have ``M``
    positions, and stays sensible when the style image has another size.

    Args:
        generated: the layer's features of the image being optimised.
        target_gram: the style image's normalised Gram matrix at that layer.
        normalization: one of :data:`NORMALIZATIONS`.
        mask: ``(h, w)`` weights restricting the statistics to a region, or None.

    Returns:
        A float32 scalar tensor.
    """
    _check_norm(normalization)
    gram = gram_matrix(generated, mask=mask)
    sq = tf.square(gram - tf.cast(target_gram, tf.float32))
    if normalization == "seed":
        return tf.reduce_mean(sq)
    n = tf.cast(tf.shape(gram)[0], tf.float32)
    return tf.reduce_sum(sq) / (4.0 * n * n)


def style_loss(
    generated: Mapping[str, Tensor],
    target_grams: Mapping[str, Tensor],
    layer_weights: Mapping[str, float] | None = None,
    normalization: str = "seed",
    masks: Mapping[str, Tensor] | None = None,
) -> Tensor:
    """Weighted sum over layers of :func:`style_layer_loss`.

    Args:
        generated: ``{layer: features}`` of the image being optimised.
        target_grams: ``{layer: Gram matrix}`` of the style image.
        layer_weights: ``{layer: weight}``; default equal weights ``1/L`` (the seed's ``w_l = 1/5``).
        normalization: ``"seed"`` or ``"paper"``.
        masks: optional ``{layer: (h, w) mask}`` restricting the statistics to a region.

    Returns:
        A float32 scalar tensor (the float 0.0 when every weight is 0).
    """
    layers = list(target_grams)
    if layer_weights is None:
        layer_weights = {name: 1.0 / len(layers) for name in layers}
    total: Any = 0.0
    for name in layers:
        w = layer_weights.get(name, 0.0)
        if w:
            m = None if masks is None else masks[name]
            total += w * style_layer_loss(generated[name], target_grams[name], normalization, m)
    return total


def total_variation_loss(image: Tensor) -> Tensor:
    """Total variation ``mean((x[i+1,j] − x[i,j])²) + mean((x[i,j+1] − x[i,j])²)`` of a
    ``(1, H, W, 3)`` image: small for smooth images, so adding it removes high-frequency noise.

    Args:
        image: the images, ``(N, H, W, C)``.

    Returns:
        A float32 scalar tensor.
    """
    x = tf.cast(image, tf.float32)
    dy = x[:, 1:, :, :] - x[:, :-1, :, :]
    dx = x[:, :, 1:, :] - x[:, :, :-1, :]
    return tf.reduce_mean(tf.square(dy)) + tf.reduce_mean(tf.square(dx))


class PerceptualLoss:
    """The one loss of the library: content, style and total variation of images, over one extractor.

    :func:`nst_helpers.optimize.stylize` minimises it over an image's pixels (Gatys et al. 2016),
    :func:`nst_helpers.feedforward.train` over a network's weights (Johnson et al. 2016, who named
    it the *perceptual loss*), as pystiche shares one loss between image optimisation and model
    training. For images ``x`` in VGG space ``(N, H, W, 3)``:

    - ``content = content_weight * mean over content layers of content_loss(F(x), P)``, with ``P``
      the content targets (:meth:`content_targets` of the content image, or of each photograph);
    - ``style = style_weight * mean over the N images of Σ_s blend_s * style_loss(F(x_i), A_s)``,
      with ``A_s`` the Gram matrices of style image ``s`` and its mask, if any;
    - ``tv = tv_weight * total_variation_loss(x)``;

    each from this module with the config's ``normalization``.

    Args:
        extractor: VGG-space images → ``{layer: features}`` at every content and style layer
            (:meth:`nst_helpers.backbone.Backbone.extractor`).
        config: the run's settings: ``content_layers``, ``style_layers``, ``normalization``, the
            three weights and ``layer_weights()`` (a :class:`~nst_helpers.config.StyleConfig` or
            a training config).
        style_images: the style images in VGG space, ``(1, H, W, 3)`` each; their Gram matrices
            are the style targets.
        blend: one weight per style image (default 1 each).
        masks: one ``{style layer: (h, w) mask}`` or ``None`` (everywhere) per style image.
        content_extractor: a cheaper extractor of the content layers alone, for
            :meth:`content_targets` (default: ``extractor``).
        backbone, precision: the backbone the extractors came from and their arithmetic, for
            the caller's records.

    .. note:: The style loss is taken image by image: :func:`gram_matrix` of a whole batch would
       pool the positions of all its images into one Gram matrix.
    """

    extractor: Callable[[Tensor], dict[str, Tensor]]
    content_extractor: Callable[[Tensor], dict[str, Tensor]]
    config: Any
    layer_weights: dict[str, float]
    style_grams: list[dict[str, Tensor]]
    blend: list[float]
    masks: list[Mapping[str, Tensor] | None]

    def __init__(
        self,
        extractor: Callable[[Tensor], dict[str, Tensor]],
        config: Any,
        style_images: Sequence[Tensor],
        blend: Sequence[float] | None = None,
        masks: Sequence[Mapping[str, Tensor] | None] | None = None,
        content_extractor: Callable[[Tensor], dict[str, Tensor]] | None = None,
        backbone: Any = None,
        precision: str | None = None,
    ) -> None:
        self.extractor = extractor
        self.backbone, self.precision = backbone, precision
        self.content_extractor = content_extractor or extractor
        self.config = config
        self.layer_weights = config.layer_weights()
        self.style_grams = []
        for image in style_images:
            feats = extractor(image)
            self.style_grams.append(
                {l: tf.constant(gram_matrix(feats[l])) for l in config.style_layers}
            )
        self.blend = list(blend) if blend is not None else [1.0] * len(self.style_grams)
        self.masks = list(masks) if masks is not None else [None] * len(self.style_grams)

    def content_targets(self, x: Tensor) -> dict[str, Tensor]:
        """``{content layer: features}`` of the VGG-space images ``x``, held fixed (no gradient)."""
        feats = self.content_extractor(x)
        return {l: tf.stop_gradient(feats[l]) for l in self.config.content_layers}

    def __call__(
        self, x: Tensor, content_targets: Mapping[str, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(total, content, style, tv)`` of the VGG-space images ``x`` against
        ``content_targets`` (:meth:`content_targets`), weights applied, float32."""
        cfg = self.config
        feats = self.extractor(x)
        content: Any = 0.0
        for l in cfg.content_layers:
            content += content_loss(feats[l], content_targets[l], cfg.normalization)
        content = cfg.content_weight * content / max(len(cfg.content_layers), 1)
        n = int(x.shape[0])
        style: Any = 0.0
        for i in range(n):
            image = feats if n == 1 else {l: feats[l][i : i + 1] for l in cfg.style_layers}
            for blend, grams, masks in zip(self.blend, self.style_grams, self.masks):
                if blend:
                    style += blend * style_loss(
                        image, grams, self.layer_weights, cfg.normalization, masks
                    )
        style = cfg.style_weight * style / n
        tv = cfg.tv_weight * total_variation_loss(x) if cfg.tv_weight else tf.constant(0.0)
        content = tf.convert_to_tensor(content, tf.float32)
        style = tf.convert_to_tensor(style, tf.float32)
        return content + style + tv, content, style, tv

    def style_layer_losses(self, x: Tensor) -> dict[str, float]:
        """Each style layer's share of the weighted style term of one VGG-space image ``x``:
        ``{layer: style_weight * w_l * E_l}``, summed over the style images with their blend
        weights. The values add up to the style term of :meth:`__call__`."""
        cfg = self.config
        feats = self.extractor(x)
        out: dict[str, float] = {}
        for layer in cfg.style_layers:
            value = 0.0
            for blend, grams, masks in zip(self.blend, self.style_grams, self.masks):
                if blend:
                    value += (
                        blend
                        * self.layer_weights[layer]
                        * float(
                            style_layer_loss(
                                feats[layer],
                                grams[layer],
                                cfg.normalization,
                                None if masks is None else masks[layer],
                            )
                        )
                    )
            out[layer] = cfg.style_weight * value
        return out
