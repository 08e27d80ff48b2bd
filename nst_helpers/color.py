"""Colour preservation: keep the content image's colours while taking the style's texture.

Gatys et al. (2017, "Controlling Perceptual Factors in Neural Style Transfer", section 5) give two
ways: *luminance-only transfer*, which keeps the content's colour channels and takes only the
stylised luminance, and *colour histogram matching*, which recolours the style image with the
content's colour statistics before the transfer.
"""

import numpy as np
from skimage import color, exposure

from .images import as_uint8


def transfer_luminance(stylized, content):
    """The stylised image's luminance (Y of YIQ) with the content image's colour (I and Q)."""
    out = color.rgb2yiq(as_uint8(stylized) / 255.0)
    src = color.rgb2yiq(as_uint8(content) / 255.0)
    if src.shape != out.shape:
        from .images import resize

        src = color.rgb2yiq(resize(as_uint8(content), size=out.shape[:2]) / 255.0)
    out[..., 1:] = src[..., 1:]
    return as_uint8(np.clip(color.yiq2rgb(out), 0, 1))


def match_histogram(style, content):
    """The style image recoloured so each RGB channel's histogram matches the content image's."""
    matched = exposure.match_histograms(as_uint8(style), as_uint8(content), channel_axis=-1)
    return np.clip(matched, 0, 255).round().astype(np.uint8)
