"""Decoding every form of input image into an 8-bit RGB PIL image, whatever it held.

The steps of :func:`nst_helpers.images.load_image`: :func:`open_image` decodes a file or its bytes
(a large JPEG already at a reduced scale), :func:`array_to_pil` takes a NumPy array (gray, RGB or
RGBA; bool, uint16, float), and :func:`to_rgb` turns any PIL mode (grayscale, RGBA composited on
white, palette, 16-bit, CMYK, an EXIF-rotated phone photo) into RGB. Every failure is a one-line
:class:`~nst_helpers.errors.NSTError` that names the image (:func:`describe_source`).
"""

from __future__ import annotations

import io
import math
import os
import pathlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import NSTError
from .files import PathLike

__all__ = ["MIN_SIDE", "array_to_pil", "describe_source", "open_image", "to_rgb"]

#: Images smaller than this on either side are rejected: five poolings leave nothing of them.
MIN_SIDE = 32


def describe_source(source: object, name: str | None) -> str:
    """How messages name an image: ``name`` and its path, the path, ``name``, or its kind.

    Args:
        source: what was given to read: a path, bytes, a PIL image, an array ...
        name: how the caller calls it (``"content image"``), or None.

    Returns:
        ``"content image 'cat.jpg'"``, ``"cat.jpg"``, ``"content image"``, ``"uploaded data"``
        (bytes without a name) or ``"image"``.
    """
    if isinstance(source, (str, os.PathLike)):
        return f"{name} '{os.fspath(source)}'" if name else os.fspath(source)
    if name:
        return name
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "uploaded data"
    return "image"


def _read(path: PathLike, label: str) -> bytes:
    """The bytes of the file at ``path``, or NSTError naming ``label`` and what stopped it."""
    file = pathlib.Path(path).expanduser()
    if not file.exists():
        raise NSTError(f"{label}: no such file; check the path.")
    if file.is_dir():
        raise NSTError(f"{label}: is a folder, not an image file.")
    try:
        if file.stat().st_size == 0:
            raise NSTError(f"{label}: the file is empty (0 bytes); re-save or re-download it.")
        return file.read_bytes()
    except PermissionError:
        raise NSTError(
            f"{label}: no permission to read this file; check its permissions "
            "(chmod u+r) or copy it somewhere readable."
        ) from None
    except OSError as err:
        raise NSTError(f"{label}: the file cannot be read ({err.strerror or err}).") from None


def _draft(img: Image.Image, max_side: int | None) -> None:
    """Let a JPEG decode at a reduced scale (1/2, 1/4 or 1/8) that still covers ``max_side``.

    Decoding an 8000x6000 photo in full takes 144 MB and most of a second; at 1/8 it takes 1/64 of
    both, and the result is resized to ``max_side`` anyway (no smaller than asked, so nothing is
    lost; neither side drops below :data:`MIN_SIDE`). Other formats, and ``max_side=None``,
    decode in full.
    """
    w, h = img.size
    if max_side is None or img.format != "JPEG" or max(w, h) <= max_side:
        return
    scale = max_side / max(w, h)
    img.draft(img.mode, (max(MIN_SIDE, math.ceil(w * scale)), max(MIN_SIDE, math.ceil(h * scale))))


def open_image(
    source: PathLike | bytes | bytearray | memoryview, label: str, max_side: int | None = None
) -> Image.Image:
    """Decode a file, or the bytes of one, into a PIL image with its pixels loaded.

    A JPEG larger than ``max_side`` is decoded at a reduced scale (1/2, 1/4 or 1/8) that still
    covers it.

    Args:
        source: a path, or the bytes of an image file.
        label: how messages name it (:func:`describe_source`).
        max_side: the longest side that will be kept, or None (decode in full).

    Returns:
        The PIL image, in the mode of the file.

    Raises:
        NSTError: a missing, unreadable, empty, truncated, damaged or non-image file, in one line.
    """
    if isinstance(source, (str, os.PathLike)):
        data = _read(source, label)
    else:
        data = bytes(source)
        if not data:
            raise NSTError(f"{label}: no data (0 bytes); upload the image again.")
    try:
        img = Image.open(io.BytesIO(data))
        _draft(img, max_side)
        img.load()
    except UnidentifiedImageError:
        raise NSTError(f"{label}: not an image file PIL can read; use a PNG or JPEG.") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise NSTError(
            f"{label}: the image is truncated or damaged ({err}); re-save or re-download it."
        ) from None
    except Image.DecompressionBombError:
        raise NSTError(
            f"{label}: the image is too large to open safely; shrink it first."
        ) from None
    return img


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB, honouring EXIF rotation and compositing alpha on white.

    Args:
        img: a PIL image of any mode: gray, 16-bit or float, palette, RGBA, CMYK ...

    Returns:
        An RGB image; 16-bit values are scaled to 8 bits, transparent pixels become white.
    """
    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0, 0, 255).round().astype(np.uint8)
        img = Image.fromarray(arr, "L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("RGB")


def array_to_pil(array: np.ndarray, label: str) -> Image.Image:
    """A PIL image of a NumPy array, its values scaled to 8 bits.

    Args:
        array: ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)``, or one of these with a
            batch of one in front; ``bool``, ``uint8``, ``uint16``, or float in [0, 1] or 0…255.
        label: how messages name it.

    Returns:
        An ``L``, ``RGB`` or ``RGBA`` image.

    Raises:
        NSTError: another shape, or NaN or infinite values.
    """
    arr = np.asarray(array)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise NSTError(
            f"{label}: an array of shape {arr.shape} is not an image; "
            "expected (H, W), (H, W, 3) or (H, W, 4)."
        )
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:
        arr = (arr.astype(np.float64) / 257.0).round().astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise NSTError(f"{label}: the array holds NaN or infinite values.")
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        arr = np.clip(arr * scale, 0, 255).round().astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    mode = "L" if arr.ndim == 2 else ("RGB" if arr.shape[-1] == 3 else "RGBA")
    return Image.fromarray(np.ascontiguousarray(arr), mode)
