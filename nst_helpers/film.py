"""A film of the optimisation: the frames that :func:`~nst_helpers.optimize.stylize` kept, as a GIF
or an MP4.

Ask :func:`~nst_helpers.optimize.stylize` for frames with ``frames_every=K`` (``--save-every K`` in
the ``nst`` command), then::

    result = stylize(content, style, frames_every=5)
    save_film(result, "film.gif", fps=8)

GIFs are written with imageio (and Pillow), which the course depends on. MP4 needs the optional
``imageio-ffmpeg`` package; without it :func:`save_film` says so and suggests a ``.gif``. Like every
writer of the course, it never overwrites a file unless ``force=True``.
"""

from __future__ import annotations

import importlib.util
import pathlib
from typing import Any

import imageio.v2 as iio2
import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw

from .errors import NSTError
from .images import PathLike, as_uint8, check_writable, fit_longest, resize, write_new

__all__ = [
    "GIF_SUFFIXES",
    "VIDEO_SUFFIXES",
    "check_film_path",
    "ffmpeg_available",
    "read_film",
    "save_film",
    "show_film",
]

GIF_SUFFIXES = (".gif",)
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")


def _frame_list(frames: Any) -> list[tuple[int | None, np.ndarray]]:
    """``[(label or None, uint8 image)]`` from a StyleResult, ``(step, image)`` pairs or images."""
    if hasattr(frames, "frames") and hasattr(frames, "image"):  # a StyleResult
        frames = frames.frames
    out: list[tuple[int | None, np.ndarray]] = []
    for item in list(frames):
        if isinstance(item, tuple) and len(item) == 2 and np.ndim(item[0]) == 0:
            step, image = item
        else:
            step, image = None, item
        arr = np.asarray(image.numpy() if hasattr(image, "numpy") else image)
        if arr.ndim == 4 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 3 or arr.shape[-1] != 3:
            raise NSTError(
                f"film frame {len(out) + 1} has shape {arr.shape}; frames must be "
                "(height, width, 3) RGB images."
            )
        out.append((step, as_uint8(arr)))
    return out


def ffmpeg_available() -> bool:
    """True when the optional ``imageio-ffmpeg`` package (needed for MP4) is installed.

    Returns:
        Whether ``imageio_ffmpeg`` can be found (it is not imported).
    """
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def check_film_path(path: PathLike, force: bool = False) -> pathlib.Path:
    """Raise :class:`NSTError` now if :func:`save_film` could not write ``path`` later.

    Call it before a long run: a wrong suffix, a missing MP4 encoder, an existing file (without
    ``force``), a folder of that name, or a path under a regular file or in a read-only folder is
    reported before any time is spent.

    Args:
        path: the film to be written.
        force: whether an existing file may be replaced.

    Returns:
        The path, with ``~`` expanded.

    Raises:
        NSTError: the film could not be written there, in one line.
    """
    file = pathlib.Path(path).expanduser()
    suffix = file.suffix.lower()
    if suffix not in GIF_SUFFIXES + VIDEO_SUFFIXES:
        raise NSTError(
            f"{file}: unknown film type '{suffix}'; use .gif (or .mp4 with imageio-ffmpeg)."
        )
    if suffix in VIDEO_SUFFIXES and not ffmpeg_available():
        raise NSTError(
            f"{file}: writing {suffix} needs the imageio-ffmpeg package "
            "(pip install imageio-ffmpeg); or save a .gif instead."
        )
    if file.is_dir():
        raise NSTError(f"{file}: is a folder; give a file name ending in .gif or .mp4.")
    return check_writable(file, force=force)


def _label(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` with ``text`` in white on black in its top-left corner."""
    img = Image.fromarray(image)
    draw = ImageDraw.Draw(img)
    box = draw.textbbox((0, 0), text)
    draw.rectangle((0, 0, box[2] + 6, box[3] + 4), fill=(0, 0, 0))
    draw.text((3, 1), text, fill=(255, 255, 255))
    return np.asarray(img)


def save_film(
    frames: Any,
    path: PathLike,
    fps: float = 8,
    force: bool = False,
    max_side: int | None = None,
    label: bool = True,
    hold_last: float = 1.0,
) -> pathlib.Path:
    """Write ``frames`` as an animated GIF (or MP4) and return the path.

    Args:
        frames: a :class:`~nst_helpers.optimize.StyleResult` (its ``frames``), a list of
            ``(step, image)`` pairs or a list of ``uint8`` RGB images.
        path: ``*.gif``, or ``*.mp4`` when ``imageio-ffmpeg`` is installed.
        fps: frames per second (a positive number).
        force: overwrite an existing file.
        max_side: shrink the frames to at most this many pixels on their longest side (smaller
            files). Frames of different sizes (a coarse-to-fine run) are all brought to the size
            of the largest.
        label: write "step N" in the corner of each frame that has a step number.
        hold_last: show the last frame this many seconds longer, so the result can be seen.

    Returns:
        The path written, with ``~`` expanded.

    Raises:
        NSTError: no frames, a bad ``fps``, an unknown suffix, MP4 without ``imageio-ffmpeg``, or
            an existing file without ``force``.
    """
    file = check_film_path(path, force=force)
    fps = _check_timing(fps, hold_last)
    items = _frame_list(frames)
    if not items:
        raise NSTError(
            "no frames to film; run stylize with frames_every=K (--save-every K) "
            "to keep a frame every K steps."
        )
    suffix = file.suffix.lower()
    h, w = _film_size(items, max_side, video=suffix in VIDEO_SUFFIXES)
    images: list[Any] = []  # uint8 frames (imageio types them as array-likes)
    for step, img in items:
        if img.shape[:2] != (h, w):
            img = resize(img, size=(h, w), label=f"frame {step}", min_side=1)
        if label and step is not None:
            img = _label(img, f"step {step}")
        images.append(img)
    file.parent.mkdir(parents=True, exist_ok=True)
    if suffix in GIF_SUFFIXES:
        _write_gif(file, images, fps, hold_last, force)
    else:
        _write_video(file, images, fps, hold_last)
    return file


def _check_timing(fps: Any, hold_last: Any) -> float:
    """``fps`` as a float, after checking it and ``hold_last``; raise NSTError if either is bad."""
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise NSTError(f"fps must be a positive number, not {fps!r}.") from None
    if not 0 < fps < 1000:
        raise NSTError(f"fps must be a positive number below 1000, not {fps:g}.")
    if not hold_last >= 0:
        raise NSTError(f"hold_last must be zero or positive seconds, not {hold_last!r}.")
    return fps


def _film_size(
    items: list[tuple[int | None, np.ndarray]], max_side: int | None, video: bool
) -> tuple[int, int]:
    """``(height, width)`` of the film: the largest frame's, shrunk to ``max_side``."""
    h, w = max((img.shape[:2] for _, img in items), key=lambda s: s[0] * s[1])
    if max_side is not None and max(h, w) > max_side:
        h, w = fit_longest((h, w), max_side)
    if video:  # H.264 in yuv420p wants even sides
        h, w = h - h % 2, w - w % 2
    return h, w


def _write_gif(
    file: pathlib.Path, images: list[Any], fps: float, hold_last: float, force: bool
) -> None:
    """An animated GIF that loops, its last frame held ``hold_last`` seconds longer."""
    # Pillow merges identical consecutive frames; each step's image differs in practice.
    durations = [1000.0 / fps] * len(images)
    durations[-1] += 1000.0 * hold_last
    data = iio.imwrite(
        "<bytes>",
        np.stack(images),
        extension=".gif",
        plugin="pillow",
        duration=durations,
        loop=0,
    )
    write_new(file, data, force=force)


def _write_video(file: pathlib.Path, images: list[Any], fps: float, hold_last: float) -> None:
    """An H.264 MP4 (imageio-ffmpeg), its last frame repeated for ``hold_last`` seconds."""
    images = images + [images[-1]] * int(round(hold_last * fps))
    if file.exists():  # force was given: replace it
        file.unlink()
    iio2.mimwrite(
        str(file),
        images,
        format="FFMPEG",
        fps=fps,
        macro_block_size=1,
        codec="libx264",
        pixelformat="yuv420p",
    )


def read_film(path: PathLike) -> np.ndarray:
    """The frames of a GIF or MP4 as a ``(frames, H, W, 3)`` ``uint8`` array (to check a film).

    Args:
        path: a film that :func:`save_film` wrote.

    Returns:
        A ``uint8`` array of shape ``(frames, H, W, 3)``.

    Raises:
        NSTError: there is no such file.
    """
    file = pathlib.Path(path)
    if not file.exists():
        raise NSTError(f"{file}: no such file; check the path.")
    kwargs = {"plugin": "pillow", "mode": "RGB"} if file.suffix.lower() in GIF_SUFFIXES else {}
    frames = iio.imread(file, index=None, **kwargs)
    return np.asarray(frames)[..., :3]


def show_film(path: PathLike) -> Any:
    """Show a GIF in a notebook (an MP4 as a video element).

    Args:
        path: a film that :func:`save_film` wrote.

    Returns:
        An ``IPython.display`` object that shows it.
    """
    # Lazy: IPython takes 0.06 s to import, and only a notebook shows a film.
    from IPython.display import Image, Video  # noqa: PLC0415

    file = pathlib.Path(path)
    if file.suffix.lower() in GIF_SUFFIXES:
        return Image(data=file.read_bytes(), format="gif")
    return Video(str(file), embed=True)
