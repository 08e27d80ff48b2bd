"""What the parts of grading share: the verdicts' words, the limits, what grading needs installed."""

from __future__ import annotations

import importlib
import importlib.util
import pathlib

from ..errors import NSTError

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_BYTES",
    "ROOT",
    "NOT_WRITTEN",
    "PASSED",
    "FAILED",
    "NOT_ATTEMPTED",
    "RUN_FAILED",
    "GRADER_FAILED",
    "EXTRA_MODULES",
    "INSTALL",
    "check_installed",
    "one_line",
]

#: Seconds a submission's cells may run in all, unless told otherwise.
DEFAULT_TIMEOUT = 600
#: A submission larger than this is not read (notebooks with their outputs are a few MB).
MAX_BYTES = 64 * 1024 * 1024
#: The checkout (or the folder the package is installed in): ``notebooks/student`` lies there.
ROOT = pathlib.Path(__file__).resolve().parents[2]
#: What a check says of an exercise not written yet (its function raises NotImplementedError).
NOT_WRITTEN = "is not written yet"

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
#: Notes of a notebook that could not be graded through no fault of its own.
RUN_FAILED, GRADER_FAILED = "the run failed", "the grader failed"

#: What grading imports (here, and in every worker) and starts (the kernel): the ``[grade]`` extra.
EXTRA_MODULES = ("nbformat", "nbclient", "jupyter_client", "ipykernel")
INSTALL = 'pip install "nst-helpers[grade]"'


def check_installed() -> None:
    """Raise :class:`NSTError` in one line, naming the package and the extra, when grading cannot
    run here: a package of the ``[grade]`` extra is missing, or no ``python3`` Jupyter kernel is
    installed. Checked before any submission is read or any file written."""
    for name in EXTRA_MODULES:
        try:
            if name == "ipykernel":  # it runs in the kernel, not here: found, not imported
                found = importlib.util.find_spec(name) is not None
            else:
                importlib.import_module(name)
                found = True
        except (ImportError, ValueError):
            found = False
        if not found:
            raise NSTError(
                f"nst grade needs {name}, which the [grade] extra installs: {INSTALL}; "
                "nothing was graded."
            )
    # jupyter_client: the [grade] extra, found above
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        raise NSTError(
            "nst grade runs each notebook in a python3 Jupyter kernel and none is "
            f"installed: {INSTALL} (it brings ipykernel); nothing was graded."
        ) from None


def one_line(text: object) -> str:
    """``text`` (a message, or an exception) on one line: its non-blank lines, stripped, joined.

    Args:
        text: what to put on one line; anything else than a string is turned into one first.

    Returns:
        The one line.
    """
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())
