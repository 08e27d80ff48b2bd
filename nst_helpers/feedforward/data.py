"""The training set of the network, offline: crops of photographs, and the painting.

:class:`PhotoCrops` draws random crops, scales and flips of the photographs this package and
scikit-image ship (:data:`TRAINING_PHOTOS`), reproducibly from a seed and a step number.
:data:`HELD_OUT` (``tubingen`` and ``chelsea``) are never trained on, so they test the network.
:data:`COURSE_PHOTOS` are 59 more photographs of real scenes (animals, buildings, landscapes,
people, still lifes), public domain, CC0 or CC BY, shipped as ``nst_helpers.photo_data``
(``data/photos/``, credited in ``data/photos/photos.tsv`` and ``data/README.md``).
"""

from __future__ import annotations

import csv
import functools
import io
import math
import os
import pathlib
from importlib import resources
from typing import Any

import numpy as np
from PIL import Image

from .. import samples
from ..errors import NSTError
from ..images import load_image

__all__ = [
    "TRAINING_PHOTOS",
    "COURSE_PHOTOS",
    "HELD_OUT",
    "photo_credits",
    "PHOTO_SIDE",
    "photo",
    "painting",
    "describe_style",
    "PhotoCrops",
]

#: Photographs of the training set: three that this package offers as samples (``astronaut``,
#: ``coffee``, ``rocket``, through scikit-image; see :mod:`nst_helpers.samples`) and eight more of
#: scikit-image's own images, colour and grey. Grey ones are given three equal channels.
TRAINING_PHOTOS = (
    "astronaut",
    "coffee",
    "rocket",
    "motorcycle",
    "hubble_deep_field",
    "immunohistochemistry",
    "camera",
    "grass",
    "gravel",
    "brick",
    "coins",
)
#: Photographs never trained on, to judge the network by: the Neckarfront in Tübingen of Gatys et
#: al. (2016) and Chelsea the cat (also scikit-image's ``cat``).
HELD_OUT = ("tubingen", "chelsea")
#: Longest side the training photographs are kept at, in pixels.
PHOTO_SIDE = 512


@functools.cache
def photo_credits() -> dict[str, dict[str, str]]:
    """``{name: row}`` of ``data/photos/photos.tsv``: what each of :data:`COURSE_PHOTOS` shows,
    its author, licence and the package it was taken from."""
    text = resources.files("nst_helpers.photo_data").joinpath("photos.tsv").read_text("utf-8")
    return {row["name"]: row for row in csv.DictReader(io.StringIO(text), delimiter="\t")}


#: The 59 photographs of ``data/photos/`` by name (``alpine_landscape``, ``bison``, ...):
#: scenes a style network should learn to paint, none of them textures.
COURSE_PHOTOS = tuple(photo_credits())


def photo(name: str) -> np.ndarray:
    """A training or held-out photograph by name, ``uint8`` RGB at most :data:`PHOTO_SIDE` px:
    a sample, one of :data:`COURSE_PHOTOS` or one of scikit-image's own."""
    if name in samples.CONTENT_SAMPLES:
        image = samples.load_sample(name)
    elif name in photo_credits():
        jpeg = resources.files("nst_helpers.photo_data").joinpath(f"{name}.jpg").read_bytes()
        image = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    else:
        from skimage import data  # scikit-image's own photographs, only for these names

        image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    return load_image(image, max_side=PHOTO_SIDE, name=name)


def painting(style: Any, size: int) -> np.ndarray:
    """The painting as ``uint8`` RGB, at most ``size`` px: a sample name or an image."""
    if isinstance(style, str) and not os.path.exists(style) and "." not in style:
        style = samples.load_sample(style)
    return load_image(style, max_side=size, name="painting")


def describe_style(style: Any) -> str:
    """How to name the painting ``style`` in messages and in a network's description."""
    if isinstance(style, str) and not os.path.exists(style):
        try:
            return samples.describe(style)
        except NSTError:
            return style
    if isinstance(style, (str, os.PathLike)):
        return pathlib.Path(style).name
    return "a style image"


def _known(name: Any) -> bool:
    """Whether ``name`` names a photograph :func:`photo` loads (and is not a file)."""
    return (
        isinstance(name, str)
        and not os.path.exists(name)
        and (name in photo_credits() or name in TRAINING_PHOTOS or name in HELD_OUT)
    )


class PhotoCrops:
    """Random square crops of photographs, scaled and flipped: the training set.

    Batch ``k`` is drawn from a random generator seeded with ``(seed, k)``, so it is the same
    whenever it is asked for: a resumed run sees the batches the uninterrupted run would have seen.
    Each crop picks a photograph at random, a square side between a quarter of the photograph's
    short side (at least ``0.75 * size``) and all of it (log-uniformly), a position, and a
    horizontal flip half the time, and is resized to ``size`` px.

    Args:
        photos: ``None`` for :data:`TRAINING_PHOTOS`; or a folder of image files (``.jpg``,
            ``.jpeg``, ``.png``; read when drawn, so any number fits), or a list of images
            (anything :func:`~nst_helpers.images.load_image` reads) and names of the photographs
            :func:`photo` knows (e.g. ``COURSE_PHOTOS``).
        size: side of the crops, px.
        batch_size: crops per batch.
        seed: the random seed.
    """

    def __init__(
        self,
        photos: Any = None,
        size: int = 128,
        batch_size: int = 4,
        seed: int = 0,
    ) -> None:
        self.size, self.batch_size, self.seed = int(size), int(batch_size), int(seed)
        self._files: list[pathlib.Path] | None = None
        self._images: list[np.ndarray] | None = None
        if photos is None:
            self.names = list(TRAINING_PHOTOS)
            self._images = [photo(n) for n in self.names]
        elif isinstance(photos, (str, os.PathLike)) and pathlib.Path(photos).expanduser().is_dir():
            folder = pathlib.Path(photos).expanduser()
            self._files = sorted(
                p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
            )
            if not self._files:
                raise NSTError(f"{folder}: holds no .jpg or .png photographs to train on.")
            self.names = [p.name for p in self._files]
            self._images = None
        else:
            if isinstance(photos, (str, os.PathLike)) or not hasattr(photos, "__len__"):
                photos = [photos]
            if not len(photos):
                raise NSTError("give at least one photograph to train on.")
            self._images = [
                photo(p)
                if _known(p)
                else load_image(p, max_side=PHOTO_SIDE, name=f"training photo {i + 1}")
                for i, p in enumerate(photos)
            ]
            self.names = [
                str(p) if isinstance(p, (str, os.PathLike)) else f"photo {i + 1}"
                for i, p in enumerate(photos)
            ]

    def __len__(self) -> int:
        return len(self.names)

    def _image(self, i: int) -> np.ndarray:
        if self._images is not None:
            return self._images[i]
        assert self._files is not None  # a folder of photographs, read when drawn
        return load_image(
            self._files[i],
            max_side=max(PHOTO_SIDE, self.size),
            name=f"training photo {self._files[i]}",
        )

    def crop(self, rng: np.random.Generator) -> np.ndarray:
        """One crop, ``uint8`` ``(size, size, 3)``, drawn with the NumPy generator ``rng``."""
        image = self._image(int(rng.integers(len(self))))
        h, w = image.shape[:2]
        high = min(h, w)
        low = min(high, max(0.75 * self.size, 0.25 * high))
        side = int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))
        y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
        box = (x, y, x + side, y + side)
        crop = Image.fromarray(image).resize(
            (self.size, self.size), Image.Resampling.BILINEAR, box=box, reducing_gap=2.0
        )
        out = np.asarray(crop, dtype=np.uint8)
        return out[:, ::-1] if rng.random() < 0.5 else out

    def batch(self, step: int) -> np.ndarray:
        """Batch number ``step``: ``float32`` ``(batch_size, size, size, 3)`` RGB in 0…255."""
        rng = np.random.default_rng([self.seed, int(step)])
        return np.stack([self.crop(rng) for _ in range(self.batch_size)]).astype(np.float32)
