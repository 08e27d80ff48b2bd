"""Images in and out: loading, resizing, VGG ("caffe") space, masks, showing and saving.

Everything the course feeds to the network starts here. :func:`load_image` accepts a path, a PIL
image, a NumPy array or raw bytes (an upload) and always returns an ``uint8`` RGB array of shape
``(H, W, 3)``, whatever the file held: grayscale, RGBA (composited on white), palette, 16-bit, CMYK
or an EXIF-rotated phone photo (:mod:`nst_helpers.decoding` decodes each). :func:`to_vgg` and
:func:`from_vgg` convert between that and the input VGG networks were trained on (Simonyan &
Zisserman, 2014): BGR channel order with the ImageNet channel means subtracted, exactly what
``keras.applications.vgg19.preprocess_input`` does. :func:`save_image` never replaces a file by
accident; the checks and writes behind it (:mod:`nst_helpers.files`) are re-exported here.

This module does not import TensorFlow until a function needs it.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
from PIL import Image, PngImagePlugin

from ._tf import Tensor, tf as _tf
from .decoding import MIN_SIDE, array_to_pil, describe_source, open_image, to_rgb
from .errors import NSTError
from .files import PathLike, check_folder, check_writable, exists_message, write_new

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "MIN_SIDE",
    "VGG_MAX",
    "VGG_MEAN_BGR",
    "VGG_MIN",
    "ImageSource",
    "PathLike",
    "as_uint8",
    "check_folder",
    "check_writable",
    "clip_vgg",
    "default_max_side",
    "fit_longest",
    "from_vgg",
    "load_image",
    "load_mask",
    "resize",
    "save_image",
    "show",
    "to_png_bytes",
    "to_vgg",
    "vgg_input",
    "write_new",
]

#: What :func:`load_image` reads: a path, the bytes of a file, a PIL image, an array, or a tensor
#: (anything with ``.numpy()``).
ImageSource: TypeAlias = (
    "str | os.PathLike[str] | bytes | bytearray | memoryview | Image.Image | np.ndarray | Tensor"
)

#: ImageNet channel means in BGR order, as used by the original Caffe VGG models.
VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
#: Smallest and largest value each BGR channel can take in VGG space (pixels 0 and 255).
VGG_MIN = -VGG_MEAN_BGR
VGG_MAX = 255.0 - VGG_MEAN_BGR


def default_max_side() -> int:
    """Longest image side the course uses by default: 256 px on a CPU, 512 px with a GPU.

    Returns:
        512 where TensorFlow sees a GPU, else 256 (this starts TensorFlow).
    """
    return 512 if _tf().config.list_physical_devices("GPU") else 256


def load_image(
    source: ImageSource, max_side: int | Literal["auto"] | None = "auto", name: str | None = None
) -> np.ndarray:
    """Load an image as an ``uint8`` RGB array of shape ``(H, W, 3)``.

    Args:
        source: a file path, a PIL image, a NumPy array (``uint8``, ``uint16``, ``bool`` or float
            in ``[0, 1]``; gray, RGB or RGBA) or the raw bytes of an image file.
        max_side: shrink the image (keeping its aspect ratio) so that its longest side is at most
            this many pixels. ``"auto"`` uses :func:`default_max_side`; ``None`` keeps the size.
            Images are never enlarged.
        name: how to call the image in error messages (defaults to the path).

    Returns:
        A new ``uint8`` array of shape ``(H, W, 3)``.

    Raises:
        NSTError: a one-line message for a missing, empty, truncated or non-image file, or an image
            smaller than 32 px on a side.
    """
    label = describe_source(source, name)
    if hasattr(source, "numpy") and not isinstance(source, np.ndarray):
        source = source.numpy()
    if isinstance(source, Image.Image):
        img = source
    elif isinstance(source, np.ndarray):
        img = array_to_pil(source, label)
    elif isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        if max_side == "auto":
            max_side = default_max_side()
        img = open_image(source, label, max_side)
    else:
        raise NSTError(
            f"{label}: cannot read a {type(source).__name__}; "
            "give a file path, bytes, a PIL image or a NumPy array."
        )
    img = to_rgb(img)
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        raise NSTError(
            f"{label}: {w}x{h} px is too small; images must be at least {MIN_SIDE} px on each side."
        )
    if max_side == "auto":
        max_side = default_max_side()
    if max_side is not None and max(w, h) > max_side:
        img = resize(img, max_side=max_side, label=label)
    return np.asarray(img, dtype=np.uint8).copy()


def _mask_array(mask: Any, name: str) -> np.ndarray:
    """``mask`` as a float32 array of any shape; an image (path, PIL, bytes) in [0, 1] as RGB.

    Raises:
        NSTError: it does not hold numbers (or the image cannot be read).
    """
    m = mask
    if not isinstance(m, np.ndarray) and not hasattr(m, "numpy"):
        if isinstance(m, (list, tuple)):
            m = np.asarray(m)
        else:  # a path, a PIL image or bytes: any image load_image reads
            m = load_image(m, max_side=None, name=name).astype(np.float32) / 255.0
    m = np.asarray(m.numpy() if hasattr(m, "numpy") else m)
    if m.dtype == np.bool_:
        m = m.astype(np.float32)
    if not np.issubdtype(m.dtype, np.number):
        raise NSTError(f"{name}: a {m.dtype} array is not a mask; give numbers in [0, 1].")
    return m.astype(np.float32)


def _mask_plane(m: np.ndarray, name: str) -> np.ndarray:
    """A float32 mask as one ``(h, w)`` plane in [0, 1]: colour averaged, 0 to 255 scaled down.

    Raises:
        NSTError: not 2-D, NaN or infinite values, or negative values.
    """
    if m.ndim == 3 and m.shape[-1] in (1, 3, 4):
        m = m[..., :3].mean(axis=-1)
    if m.ndim != 2:
        raise NSTError(f"{name} has shape {m.shape}; give a 2-D (height, width) mask.")
    if not np.isfinite(m).all():
        raise NSTError(f"{name} holds NaN or infinite values.")
    if m.min() < 0:
        raise NSTError(f"{name} has negative values; give values in [0, 1] (or 0 to 255).")
    if m.max() > 1.0:
        m = m / 255.0 if m.max() <= 255.0 else m / m.max()
    return m


def _mask_to_size(m: np.ndarray, size: tuple[int, int], name: str) -> np.ndarray:
    """A 2-D mask resized to ``size`` ``(H, W)`` by area averaging, if it has that aspect ratio.

    Raises:
        NSTError: its aspect ratio is not the image's (to 2 %), or a side is under 2 px.
    """
    h, w = size
    if m.shape == (h, w):
        return m
    if min(m.shape) < 2 or abs(m.shape[0] / m.shape[1] - h / w) > 0.02 * (h / w):
        raise NSTError(
            f"{name} is {m.shape[1]}x{m.shape[0]} px but the content image is "
            f"{w}x{h} px; give a mask with the content image's size or aspect ratio."
        )
    return _tf().image.resize(m[..., None], (h, w), method="area").numpy()[..., 0]


def load_mask(mask: Any, size: tuple[int, int], name: str = "mask") -> np.ndarray:
    """A mask of the image of ``size`` ``(H, W)``: float32 ``(H, W)`` in [0, 1], 1 where it applies.

    Args:
        mask: an ``(H, W)`` array (numbers in [0, 1], or 0 to 255, or booleans), a tensor, a PIL
            image or an image file (white = here, black = not; colour is averaged). One with the
            image's aspect ratio but another size is resized (area averaging).
        size: the image's ``(height, width)``.
        name: how messages name it (``"style mask 1"``).

    Raises:
        NSTError: not numbers, not 2-D, NaN or infinite values, negative values, another aspect
            ratio, or empty (all zero).
    """
    m = _mask_to_size(_mask_plane(_mask_array(mask, name), name), size, name)
    if not m.max() > 0:
        raise NSTError(f"{name} is empty (all zero): that style would apply nowhere.")
    return np.clip(m, 0.0, 1.0).astype(np.float32)


def fit_longest(shape: Sequence[int], side: int) -> tuple[int, int]:
    """``(height, width)`` with longest side ``side`` and the aspect ratio of ``shape``.

    Args:
        shape: ``(height, width, ...)``, e.g. an image array's ``.shape``.
        side: the longest side wanted, in pixels.

    Returns:
        ``(height, width)``, each at least 1.
    """
    h, w = shape[:2]
    scale = side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize(
    image: Any,
    max_side: int | None = None,
    size: Sequence[int] | None = None,
    label: str = "image",
    min_side: int = MIN_SIDE,
) -> Any:
    """Resize to a longest side of ``max_side`` or to an exact ``size=(height, width)``.

    Args:
        image: a PIL image, or an array :func:`as_uint8` takes.
        max_side: the longest side wanted, in pixels (used when ``size`` is not given).
        size: the exact ``(height, width)`` wanted.
        label: how to call the image in error messages.
        min_side: refuse a result whose short side is smaller (default :data:`MIN_SIDE`, what
            VGG's five poolings need).

    Returns:
        The same kind it was given: a PIL image for a PIL image, else a ``uint8`` array.

    Raises:
        NSTError: the result would have a side under ``min_side``.
    """
    is_pil = isinstance(image, Image.Image)
    img = image if is_pil else Image.fromarray(as_uint8(image))
    w, h = img.size
    if size is None:
        if max_side is None:
            raise NSTError(f"{label}: give max_side or size to resize it to.")
        size = fit_longest((h, w), max_side)
    nh, nw = int(size[0]), int(size[1])
    if min(nh, nw) < min_side:
        raise NSTError(
            f"{label}: resizing {w}x{h} px to {nw}x{nh} px leaves a side under {min_side} px; "
            "use a larger size or a less elongated image."
        )
    out = img.resize((nw, nh), Image.Resampling.LANCZOS) if (nw, nh) != (w, h) else img
    return out if is_pil else np.asarray(out, dtype=np.uint8).copy()


def as_uint8(image: Any) -> np.ndarray:
    """An ``uint8`` ``(H, W, 3)`` array from a uint8 array, a float array in [0, 1] or [0, 255].

    Args:
        image: an array (or anything :func:`numpy.asarray` takes), ``(H, W, 3)`` or
            ``(1, H, W, 3)``; floats whose maximum is at most 1 are taken as [0, 1].

    Returns:
        The array itself if it is ``uint8``, else a new one, rounded and clipped to 0…255.
    """
    arr = np.asarray(image)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float32)
    if arr.size and arr.max() <= 1.0:
        arr = arr * 255.0
    return np.clip(arr, 0, 255).round().astype(np.uint8)


def vgg_input(rgb: Any) -> Tensor:
    """RGB in 0…255 ``(N, H, W, 3)`` (an array or a tensor, any dtype) → VGG's input, a float32
    tensor: BGR with the ImageNet means removed. The one conversion into VGG space, used on single
    images (:func:`to_vgg`) and on a network's batches alike.

    The same as ``keras.applications.vgg19.preprocess_input`` (its "caffe" mode).

    Args:
        rgb: the images, ``(N, H, W, 3)``.

    Returns:
        A float32 tensor of the same shape.
    """
    tf = _tf()
    return tf.reverse(tf.cast(rgb, tf.float32), axis=[-1]) - VGG_MEAN_BGR


def to_vgg(image: Any) -> Tensor:
    """RGB ``uint8`` ``(H, W, 3)`` → VGG input ``(1, H, W, 3)`` float32: BGR, ImageNet means removed
    (:func:`vgg_input`).

    Args:
        image: an image :func:`as_uint8` takes.

    Returns:
        A float32 tensor of shape ``(1, H, W, 3)``.
    """
    return vgg_input(as_uint8(image)[None])


def from_vgg(x: Any) -> np.ndarray:
    """VGG input ``(1, H, W, 3)`` or ``(H, W, 3)`` → RGB ``uint8`` ``(H, W, 3)``; the inverse of
    :func:`to_vgg`, clipping to the valid pixel range.

    Args:
        x: a tensor or an array in VGG space.

    Returns:
        A new ``uint8`` array of shape ``(H, W, 3)``.
    """
    arr = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float32)
    if arr.ndim == 4:
        arr = arr[0]
    rgb = (arr + VGG_MEAN_BGR)[..., ::-1]
    return np.clip(rgb, 0, 255).round().astype(np.uint8)


def clip_vgg(x: Tensor) -> Tensor:
    """Clip a VGG-space tensor to the range of real pixels (0…255 before the means were removed).

    Args:
        x: a tensor in VGG space, ``(..., 3)``.

    Returns:
        The clipped tensor.
    """
    return _tf().clip_by_value(x, VGG_MIN, VGG_MAX)


def to_png_bytes(image: Any, metadata: Mapping[str, Any] | None = None) -> bytes:
    """PNG-encode an image; ``metadata`` (a dict) is stored as PNG text chunks.

    Args:
        image: an image :func:`as_uint8` takes.
        metadata: text chunks to store; values that are not strings are stored as JSON.

    Returns:
        The bytes of the PNG file.
    """
    info = PngImagePlugin.PngInfo()
    for key, value in (metadata or {}).items():
        info.add_text(str(key), value if isinstance(value, str) else json.dumps(value))
    buf = io.BytesIO()
    Image.fromarray(as_uint8(image)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def save_image(
    image: Any, path: PathLike, force: bool = False, metadata: Mapping[str, Any] | None = None
) -> pathlib.Path:
    """Save an image as PNG (or JPEG by extension) and return the path.

    Never overwrites an existing file unless ``force=True``, even when another program creates it
    while the image is encoded (:func:`write_new`). ``metadata`` (for example
    ``{"backbone": "vgg16-hed"}``) is written into PNG files as text chunks, so every saved result
    says what made it.

    Args:
        image: an image :func:`as_uint8` takes.
        path: the file to write; its extension (``.png``, ``.jpg``, ...) picks the format.
        force: whether an existing file may be replaced.
        metadata: text chunks for a PNG file.

    Returns:
        The path, with ``~`` expanded.

    Raises:
        NSTError: the file exists (without ``force``), the type is unknown, or it cannot be written.
    """
    file = pathlib.Path(path).expanduser()
    if file.exists() and not force:
        raise NSTError(exists_message(file))
    suffix = file.suffix.lower()
    if suffix in ("", ".png"):
        data = to_png_bytes(image, metadata)
    elif suffix in (".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"):
        buf = io.BytesIO()
        Image.fromarray(as_uint8(image)).save(buf, format=Image.registered_extensions()[suffix])
        data = buf.getvalue()
    else:
        raise NSTError(f"{file}: unknown image type '{suffix}'; use .png or .jpg.")
    return write_new(file, data, force=force)


def show(
    *images: Any, titles: Sequence[str] | None = None, size: float = 3.5, cols: int | None = None
) -> Figure:
    """Show images side by side with matplotlib and return the figure.

    Args:
        *images: each a ``uint8`` array, a float array in [0, 1] or a VGG-space tensor
            (recognised by negative values); one channel is shown grey.
        titles: one title per image.
        size: inches per panel.
        cols: panels per row (default: all in one row).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

    n = len(images)
    cols = cols or n
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = images[i]
        arr = np.asarray(img.numpy() if hasattr(img, "numpy") else img)
        if arr.dtype != np.uint8 and arr.shape[-1:] == (3,) and arr.size and arr.min() < 0:
            arr = from_vgg(arr)
        if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 1):  # one channel: grey, own range
            ax.imshow(arr.squeeze(), cmap="gray")
        else:
            ax.imshow(as_uint8(arr))
        if titles:
            ax.set_title(titles[i], fontsize=10)
    fig.tight_layout()
    return fig
