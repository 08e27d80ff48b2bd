"""Import TensorFlow once, without its start-up noise.

TensorFlow prints a dozen lines when it starts (oneDNN notices, "could not find cuda drivers",
CPU-feature hints, a failed ``cuInit`` on machines without a GPU). They frighten students and hide
what matters. :func:`tf` imports TensorFlow with the process's standard error captured at the
file-descriptor level, then prints back every line that is *not* one of those known start-up notices,
so real warnings and errors still reach the user. Set ``NST_VERBOSE_TF=1`` to see everything.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tempfile
from types import ModuleType
from typing import Any, TypeAlias

__all__ = ["Tensor", "tf"]

#: A TensorFlow tensor or variable. TensorFlow's own classes are not named in annotations, so
#: that no module has to import TensorFlow to be imported (or type-checked) itself.
Tensor: TypeAlias = Any

_NOISE = re.compile(
    r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog\(\)"
    r"|To enable the following instructions:"
    r"|E\d{4} .*(cuInit|cuda_platform|cuda_dnn|cuda_fft|cuda_blas)"
    r"|W\d{4} .*(TF-TRT|Could not find TensorRT|cuda_))"
)
_TF: ModuleType | None = None


def _filtered_import() -> ModuleType:
    # TensorFlow's C++ logging writes to file descriptor 2 itself, also inside a Jupyter kernel
    # (whose sys.stderr is another stream that ipykernel forwards to the notebook).
    try:
        os.fstat(2)
        fd = 2
    except OSError:
        fd = None
    if fd is None or os.environ.get("NST_VERBOSE_TF"):
        tf = importlib.import_module("tensorflow")
        tf.config.list_physical_devices("GPU")
        return tf
    sys.stderr.flush()
    if sys.__stderr__ is not None:
        sys.__stderr__.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            tf = importlib.import_module("tensorflow")
            tf.config.list_physical_devices("GPU")  # triggers cuInit: capture it here too
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
    kept = [line for line in text.splitlines() if line.strip() and not _NOISE.match(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)
    return tf


def tf() -> Any:
    """Return the ``tensorflow`` module, imported quietly the first time.

    Returns:
        The ``tensorflow`` module (typed ``Any``: its attributes are made at run time).
    """
    global _TF
    if _TF is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
        _TF = _filtered_import()
        _TF.get_logger().setLevel("ERROR")
    return _TF
