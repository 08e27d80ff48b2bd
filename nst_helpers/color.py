"""Colour preservation: keep the content image's colours while taking the style's texture.

Gatys et al. (2017, "Controlling Perceptual Factors in Neural Style Transfer") give two
ways, both offered by :func:`nst_helpers.optimize.stylize` through ``preserve_color``:

``"luminance"`` (luminance-only transfer)
    Convert content and style to their luminance Y (of the YIQ colour space), after matching the
    style's luminance mean and spread to the content's; run the transfer on those grey images; then
    put the content's colour channels I and Q back under the stylised luminance
    (:func:`luminance_image`, :func:`transfer_luminance`). The colours are exactly the content's.
``"histogram"`` (colour histogram matching)
    Recolour the style image with the linear map ``x -> A x + b`` that gives its RGB pixels the
    content image's mean and covariance (Gatys et al. 2017, section 5.1, with the symmetric matrix
    square roots ``A = Σ_C^{1/2} Σ_S^{-1/2}``), then transfer as usual (:func:`match_histogram`).
    The brush strokes keep some colour variation, but drawn from the content's palette.

.. note::
   Gatys et al. match the first two moments of the colour distribution, not each channel's whole
   histogram; so does this module. Per-channel histogram matching (``skimage.exposure``) is
   offered as :func:`match_channel_histograms`, for comparison only.

:func:`chroma_difference` measures how far two images' colours are apart, independently of their
brightness, so the effect of either method can be checked in numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from skimage import color, exposure

from .choices import PRESERVE_COLORS as PRESERVE_COLORS  # re-exported: the two methods below
from .images import as_uint8

__all__ = [
    "PRESERVE_COLORS",
    "chroma_difference",
    "color_stats",
    "luminance",
    "luminance_image",
    "match_channel_histograms",
    "match_colors",
    "match_histogram",
    "transfer_luminance",
]


def _yiq(image: Any) -> np.ndarray:
    return color.rgb2yiq(as_uint8(image) / 255.0)


def _same_size(reference: Any, shape: Sequence[int]) -> np.ndarray:
    """``reference`` (uint8 RGB) resized to ``shape[:2]`` if it has another size."""
    reference = as_uint8(reference)
    if reference.shape[:2] != tuple(shape[:2]):
        h, w = shape[:2]
        reference = np.asarray(Image.fromarray(reference).resize((w, h), Image.Resampling.LANCZOS))
    return reference


def luminance(image: Any) -> np.ndarray:
    """The luminance Y (of YIQ) of an RGB image, as floats in [0, 1] of shape ``(H, W)``.

    Args:
        image: an RGB image (``uint8``, or floats in [0, 1]).

    Returns:
        The luminance, float64 of shape ``(H, W)``.
    """
    return _yiq(image)[..., 0]


def luminance_image(image: Any, like: Any | None = None) -> np.ndarray:
    """A grey RGB ``uint8`` image holding ``image``'s luminance in all three channels.

    With ``like`` (the content image), the luminance is first shifted and scaled to ``like``'s mean
    and standard deviation, as Gatys et al. (2017) do with the style image before a luminance-only
    transfer, so the style brings its texture but not its overall brightness or contrast.

    Args:
        image: an RGB image.
        like: the image whose luminance mean and spread to take, or ``None``.

    Returns:
        A ``uint8`` array of shape ``(H, W, 3)``.
    """
    y = luminance(image)
    if like is not None:
        ref = luminance(like)
        y = (y - y.mean()) / (y.std() + 1e-6) * ref.std() + ref.mean()
    grey = np.clip(y, 0.0, 1.0)[..., None].repeat(3, axis=-1)
    return as_uint8(np.round(grey * 255.0).astype(np.uint8))


def transfer_luminance(stylized: Any, content: Any) -> np.ndarray:
    """The stylised image's luminance (Y of YIQ) with the content image's colour (I and Q).

    Args:
        stylized: the stylised RGB image.
        content: the content RGB image, resized to the stylised image's size if needed.

    Returns:
        A ``uint8`` array of the stylised image's shape.
    """
    out = _yiq(stylized)
    src = _yiq(_same_size(content, out.shape))
    out[..., 1:] = src[..., 1:]
    return as_uint8(np.round(np.clip(color.yiq2rgb(out), 0, 1) * 255.0).astype(np.uint8))


def _sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
    """The symmetric square root of a covariance matrix (or of its inverse)."""
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, 1e-8)
    return (vectors * (values ** (-0.5 if inverse else 0.5))) @ vectors.T


def match_histogram(style: Any, content: Any) -> np.ndarray:
    """The style image recoloured to the content image's colour mean and covariance.

    Reference:
        Gatys, Ecker, Bethge, Hertzmann & Shechtman (2017), "Controlling Perceptual Factors in
        Neural Style Transfer", CVPR, section 5.1 ("colour histogram matching"): ``x' = A x + b``
        with ``A = Σ_C^{1/2} Σ_S^{-1/2}`` and ``b = μ_C - A μ_S``.

    Args:
        style: the style image (uint8 RGB, any size).
        content: the image whose colours to take (uint8 RGB, any size).

    Returns:
        The recoloured style image, uint8 RGB, of the style's size.
    """
    return match_colors(style, [content])


def match_colors(
    image: Any, references: Sequence[Any], weights: Sequence[float] | None = None
) -> np.ndarray:
    """``image`` recoloured to the colour mean and covariance of ``references`` (blended).

    The linear map of :func:`match_histogram` (Gatys et al. 2017, section 5.1), towards the
    weighted mixture of the references' pixels: its mean and covariance are the weighted means of
    their first and second moments. ``init="recolored"`` starts the optimisation from the content
    image recoloured this way towards the style images.

    Args:
        image: the image to recolour (uint8 RGB, any size).
        references: the images whose colours to take (uint8 RGB, any sizes), at least one.
        weights: one weight per reference (default: equal).

    Returns:
        The recoloured image, uint8 RGB, of ``image``'s size.
    """
    if not references:
        raise ValueError("match_colors needs at least one reference image; received none.")
    w = np.ones(len(references)) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (len(references),) or w.min() < 0 or w.sum() <= 0:
        raise ValueError(
            f"match_colors needs one non-negative weight per reference image ({len(references)}),"
            f" not all zero; received {list(np.ravel(w))}."
        )
    pixels = [as_uint8(r).reshape(-1, 3).astype(np.float64) for r in references]
    # each reference's pixels weighted so that the reference counts with its weight
    every = np.concatenate(pixels)
    share = np.concatenate([np.full(len(p), wt / w.sum() / len(p)) for wt, p in zip(w, pixels)])
    mean = np.average(every, axis=0, weights=share)
    cov = np.cov(every, rowvar=False, aweights=share)
    x = as_uint8(image).reshape(-1, 3).astype(np.float64)
    a = _sqrtm(cov) @ _sqrtm(np.cov(x, rowvar=False), inverse=True)
    out = (x - x.mean(axis=0)) @ a.T + mean
    return np.clip(out, 0, 255).round().astype(np.uint8).reshape(as_uint8(image).shape)


def match_channel_histograms(style: Any, content: Any) -> np.ndarray:
    """The style image recoloured so each RGB channel's histogram matches the content image's.

    Not Gatys et al.'s method (see :func:`match_histogram`); kept to compare the two.

    Args:
        style: the style image (uint8 RGB).
        content: the image whose histograms to take (uint8 RGB).

    Returns:
        The recoloured style image, uint8 RGB, of the style's size.
    """
    matched = exposure.match_histograms(as_uint8(style), as_uint8(content), channel_axis=-1)
    return np.clip(matched, 0, 255).round().astype(np.uint8)


def chroma_difference(image: Any, reference: Any) -> float:
    """Mean absolute difference of the colour channels I and Q (YIQ) of two images.

    Brightness (Y) is ignored, so a luminance-only transfer scores close to 0 against its content
    image (only rounding and clipping to valid pixels remain). ``reference`` is resized to
    ``image``'s size if needed. Typical values: below 0.01 for the same colours, 0.05 and more for
    clearly different ones.

    Args:
        image: an RGB image.
        reference: the RGB image to compare it with.

    Returns:
        The mean absolute difference, in YIQ units (0 for the same colours).
    """
    a = _yiq(image)
    b = _yiq(_same_size(reference, a.shape))
    return float(np.abs(a[..., 1:] - b[..., 1:]).mean())


def color_stats(image: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(mean, std)`` of an RGB image, each a length-3 array in [0, 255] units.

    Args:
        image: an RGB image.

    Returns:
        ``(mean, std)``, each of shape ``(3,)``.
    """
    arr = as_uint8(image).reshape(-1, 3).astype(np.float64)
    return arr.mean(axis=0), arr.std(axis=0)
