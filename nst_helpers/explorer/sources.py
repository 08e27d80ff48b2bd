"""The explorer's images: the content and style images, and where each came from.

:class:`ImageSources` is the part of the explorer's :class:`~nst_helpers.explorer.lab.Lab` that
holds the two images a run needs: a bundled sample, or an image the user uploaded (kept, so it can
be chosen again), each listed under a key such as ``"sample:chelsea"`` or ``"upload:cat.jpg"``.
"""

from __future__ import annotations

import pathlib
from typing import Any

from .. import samples
from ..errors import NSTError
from ..images import load_image
from .listener import Listener
from .messages import Messages
from .records import normalize_upload, upload_problem

__all__ = ["IMAGES", "MAX_KEEP", "ImageSources"]

#: Longest side kept of an uploaded image (runs shrink it further to the "size" control).
MAX_KEEP = 1024
IMAGES = ("content", "style")


class ImageSources(Messages):
    """The content and style images, the uploads and the samples loaded so far.

    Args:
        listener: what to tell about messages and images (default: nobody).
    """

    images: dict[str, Any]
    sources: dict[str, str]
    uploads: dict[str, dict[str, Any]]
    _samples: dict[str, Any]

    def __init__(self, listener: Listener | None = None) -> None:
        super().__init__(listener)
        self.images = {}  # "content"/"style" -> uint8 array
        self.sources = {}  # "content"/"style" -> "sample:chelsea", "upload:cat.jpg", ...
        self.uploads = {which: {} for which in IMAGES}  # name -> uint8 array
        self._samples = {}

    def source_options(self, which: str) -> list:
        """``(label, key)`` of every image the ``which`` image can be: samples, then uploads."""
        names = samples.list_samples()
        keys = (
            names["content"] + names["style"]
            if which == "content"
            else names["style"] + names["content"] + names["paintings"]
        )
        opts = [(name.replace("_", " "), f"sample:{name}") for name in keys]
        return opts + [(f"⬆ {name}", f"upload:{name}") for name in self.uploads[which]]

    def select(self, which: str, key: str) -> bool:
        """Use the sample or earlier upload ``key`` as the ``which`` image; False with a message
        if it cannot be had."""
        kind, _, name = key.partition(":")
        try:
            if kind == "sample":
                if name not in self._samples:
                    self._samples[name] = samples.load_sample(name)
                image = self._samples[name]
            else:
                image = self.uploads[which][name]
        except (NSTError, KeyError) as err:
            self.say("error", f"Could not load the {which} image {name}: {err}")
            return False
        self.images[which] = image
        self.sources[which] = key
        self.listener.image(which, key, image, self.source_options(which))
        return True

    def set_image(self, which: str, source: Any, name: str | None = None) -> bool:
        """Use ``source`` as the ``"content"`` or ``"style"`` image.

        Args:
            which: ``"content"`` or ``"style"``.
            source: a sample name, or anything :func:`nst_helpers.images.load_image` reads (a
                path, bytes, an array), then listed under ``name``.
            name: the name to list it under (default: the file's name).

        Returns:
            True, or False with a message (the image stays as it was).
        """
        if which not in IMAGES:
            raise NSTError(f"which must be 'content' or 'style', not {which!r}.")
        valid = sum(samples.list_samples().values(), [])
        if isinstance(source, str) and source in valid and name is None:
            return self.select(which, f"sample:{source}")
        label = name or (
            pathlib.Path(source).name
            if isinstance(source, (str, pathlib.Path))
            else f"your {which} image"
        )
        try:
            image = load_image(source, max_side=MAX_KEEP, name=label)
        except NSTError as err:
            self.say("error", f"The {which} image was not changed: {err}")
            return False
        self.uploads[which][label] = image
        return self.select(which, f"upload:{label}")

    def use_upload(self, which: str, value: Any) -> bool:
        """Take the image of a ``FileUpload.value`` (ipywidgets 7 or 8) as the ``which`` image.

        A file that is not an image, or is too small, leaves the image as it was and says why.

        Returns:
            True when the image was taken.
        """
        try:
            files = normalize_upload(value)
        except NSTError as err:
            self.say("error", f"The {which} upload was not understood: {err}")
            return False
        if not files:
            return False
        upload = files[-1]
        problem = upload_problem(upload)
        if problem:
            self.say("error", f"The {which} image was not changed: {problem}")
            return False
        if self.set_image(which, upload.content, name=upload.name):
            h, w = self.images[which].shape[:2]
            self.say("ok", f"Using {upload.name} ({w}x{h} px) as the {which} image.")
            return True
        return False
