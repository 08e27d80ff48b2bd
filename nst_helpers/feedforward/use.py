"""Using a trained network: stylising in one forward pass, saving and loading it safely."""

from __future__ import annotations

import os
import pathlib
import tempfile
import time
import weakref
import zipfile
from collections.abc import Callable

import numpy as np

from .._tf import Tensor, tf as _tf
from ..errors import NSTError
from ..images import ImageSource, PathLike, check_writable, load_image, write_new
from .network import network_info

tf = _tf()
import keras  # noqa: E402  (Keras 3, imported after TensorFlow's quiet import)

__all__ = [
    "stylize_fast",
    "forward_milliseconds",
    "milliseconds_per_image",
    "save_network",
    "load_network",
    "describe_network",
]

_FORWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward(model: keras.Model) -> Callable[[Tensor], Tensor]:
    """``model``'s forward pass as one ``tf.function`` for images of any size, traced once."""
    fn = _FORWARD.get(model)
    if fn is None:
        fn = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
        )
        _FORWARD[model] = fn
    return fn


def stylize_fast(
    model: keras.Model | PathLike, image: ImageSource, max_side: int | None = 1024
) -> np.ndarray:
    """Stylise ``image`` with a trained network: one forward pass.

    Args:
        model: a network from :func:`train` or :func:`load_network`, or the path of a ``.keras``
            file.
        image: anything :func:`~nst_helpers.images.load_image` reads (a file, an array, bytes).
        max_side: shrink the image first so that its longest side is at most this (the network
            runs at any size; memory grows with it); None keeps the size.

    Returns:
        The stylised image, ``uint8`` RGB, of the (shrunk) image's size.
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_network(model)
    photo = load_image(image, max_side=max_side, name="photo")
    out = _forward(model)(tf.constant(photo[None].astype(np.float32)))
    return np.clip(np.round(out[0].numpy()), 0, 255).astype(np.uint8)


def forward_milliseconds(
    model: keras.Model, image: ImageSource, max_side: int | None, repeats: int = 5
) -> list[float]:
    """The time of each of ``repeats`` forward passes of :func:`stylize_fast` on ``image`` at
    ``max_side``, in ms, in the order they ran: their spread says how much one figure can be
    trusted on a busy laptop.

    The first pass (which traces and warms up) is not counted. Loading and resizing the image are
    not counted either: only the network.
    """
    photo = load_image(image, max_side=max_side, name="photo")
    x = tf.constant(photo[None].astype(np.float32))
    fn = _forward(model)
    fn(x).numpy()
    times = []
    for _ in range(int(repeats)):
        t = time.perf_counter()
        fn(x).numpy()
        times.append(1000.0 * (time.perf_counter() - t))
    return times


def milliseconds_per_image(
    model: keras.Model, image: ImageSource, max_side: int | None, repeats: int = 5
) -> float:
    """The median of :func:`forward_milliseconds`: one forward pass on ``image`` at ``max_side``."""
    return float(np.median(forward_milliseconds(model, image, max_side, repeats)))


def save_network(model: keras.Model, path: PathLike, force: bool = False) -> pathlib.Path:
    """Save a network as a ``.keras`` file; never replaces a file without ``force``.

    Returns:
        The path written.
    """
    path = pathlib.Path(path).expanduser()
    if path.suffix != ".keras":
        raise NSTError(f"{path}: a network is saved as a .keras file; end the name in .keras.")
    check_writable(path, force=force)
    with tempfile.TemporaryDirectory(prefix="nst-network-") as tmp:
        tmp_path = pathlib.Path(tmp) / "network.keras"
        model.save(tmp_path)
        data = tmp_path.read_bytes()
    return write_new(path, data, force=force)


def load_network(path: PathLike) -> keras.Model:
    """Load a network saved by :func:`save_network` (or ``nst train-style``).

    The file is read in Keras' safe mode: its layers are this module's registered classes and
    Keras' own, and no code stored in it runs.

    Raises:
        NSTError: the file is missing, not a ``.keras`` file, damaged, or not a network made here.
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise NSTError(
            f"{path}: no such network file; check the path (make one with nst train-style)."
        )
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise NSTError(f"{path}: not a .keras network file; give one written by nst train-style.")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises many kinds for a bad file
        first = str(err).splitlines()[0][:160] if str(err) else ""
        raise NSTError(
            f"{path}: cannot be read as a network ({type(err).__name__}: {first}); "
            "give a file written by nst train-style."
        ) from None
    if not network_info(model) and "crop_to_input" not in [l.name for l in model.layers]:
        raise NSTError(f"{path}: a Keras model, but not a style network made by nst train-style.")
    return model


def describe_network(model: keras.Model) -> str:
    """One line: which painting, backbone and training made the network."""
    info = network_info(model)
    if not info:
        return "an untrained network"
    return (
        f"network trained on {info.get('style', '?')} with {info.get('backbone', '?')} "
        f"({info.get('precision', '?')}), {info.get('steps', '?')} steps"
    )
