"""Self-checking exercises: is the function a student wrote right, and if not, what is wrong?

Each ``check_*`` function takes what a notebook's exercise made (a function, a grid, a result),
runs it on small fixed inputs and compares what comes back with reference values. A right answer
prints one line; a wrong one raises :class:`CheckFailed` (an :class:`AssertionError`) whose message
names the likely mistake and how to fix it, and which Jupyter shows without a traceback::

    from nst_helpers import checks
    checks.check_gram_matrix(gram_matrix)   # ✔ gram_matrix is right (3 test cases).

An exercise that is not written yet (its function still raises ``NotImplementedError``) gets one
line saying so. The loss exercises also take a gradient through the student's function, since a
loss written in NumPy (or with ``.numpy()``) gives the right number but stops the optimisation.

The reference values were computed once by this package's own implementation (``tf.nn.conv2d``,
:func:`nst_helpers.images.from_vgg`, :mod:`nst_helpers.losses`) and stored, with the inputs and the
answers of the classic mistakes, in ``data/checks/*.npz``. Most checks only read those files and
never call the library, so they say the same thing wherever they run. Four cannot: the Adam loop
(:func:`check_adam_loop`) goes through the network, whose numbers depend on the backbone, so it runs
the library's own loop (``stylize`` with the ``seed`` preset) on the stored images and compares;
:func:`check_refined` evaluates one loss of a finished run; :func:`check_sweep_grid` reads the
presets; :func:`check_residual_block` hands the student's block layers built with the library's
:func:`nst_helpers.feedforward.instance_norm` and the stored weights. Regenerate the files (only
when an exercise or its reference changes) with::

    python -m nst_helpers.checks --regenerate

Installed from a wheel, the files live in the subpackage ``nst_helpers.check_data``; in a checkout they
are read from ``data/checks/`` beside the package.

One module per exercise, named after its reference file (:data:`CHECKS`), holds its hints, its
reference generator (``generate``) and its check side by side; :mod:`.common` holds what they share
(reading the reference values, the one encoding of the two normalisations, :class:`CheckFailed`, the
wording of hints), :mod:`.answers` runs the student's code, :mod:`.references` writes the files,
:mod:`.adam_reference` runs the library's Adam loop that :func:`check_adam_loop` compares with, and
:mod:`.record` splits a check between the grader and the student's kernel. This package imports
TensorFlow, and the library's higher layers, only inside the checks that need them.

A copy of this file loaded on its own (``importlib.util.spec_from_file_location``, as
:mod:`nst_helpers.grading` loads its private copy) builds a fresh set of the exercises' modules
under its own name: replacing anything in ``nst_helpers.checks`` does not reach it, and replacing
its own ``data_dir`` reaches all its checks.
"""

from __future__ import annotations

import importlib.util as _importlib_util
import pathlib as _pathlib
import sys as _sys
import types as _types


def _stand_in(name: str, file: str) -> list[str]:
    """Make a copy of this file, loaded on its own as module ``name``, the parent of fresh copies
    of the exercises' modules: a stand-in package in ``sys.modules`` (unless the copy is there
    already), over this package's folder, or the copy's own when it lies in a copy of the folder.

    Args:
        name: the copy's module name, ``nst_helpers.<something>``.
        file: the copy's path.

    Returns:
        The package's search path, for ``__path__``.
    """
    if name.count(".") != 1 or not name.startswith("nst_helpers."):
        raise ImportError(f"load a copy of nst_helpers.checks as nst_helpers.<name>, not as {name}")
    folder = _pathlib.Path(file).resolve().parent
    if not (folder / "common.py").is_file():
        spec = _importlib_util.find_spec("nst_helpers")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(
                "a copy of nst_helpers.checks outside its package needs nst_helpers "
                "installed (or on sys.path) to find its exercises' modules"
            )
        nst = spec.submodule_search_locations[0]
        folder = _pathlib.Path(nst) / "checks"
    path = [str(folder)]
    if name not in _sys.modules:
        package = _types.ModuleType(name)
        package.__path__, package.__package__ = path, name
        _sys.modules[name] = package
    return path


if (
    __spec__ is not None and __spec__.submodule_search_locations is None
):  # a copy, loaded on its own
    __path__ = __spec__.submodule_search_locations = _stand_in(__name__, __file__)
    __package__ = __name__

from . import common  # noqa: E402
from .adam_loop import check_adam_loop  # noqa: E402
from .answers import GRADIENT_HINT  # noqa: E402
from .common import CACHE as CACHE, CHECKS, CheckFailed, data_dir  # noqa: E402
from .content_loss import check_content_loss  # noqa: E402
from .conv2d import check_conv2d  # noqa: E402
from .deprocess import check_deprocess  # noqa: E402
from .gram_matrix import check_gram_matrix  # noqa: E402
from .high_frequency_energy import check_high_frequency_energy  # noqa: E402
from .instance_norm import check_instance_norm  # noqa: E402
from .references import main, reference_arrays, regenerate  # noqa: E402
from .refined import check_refined  # noqa: E402
from .residual_block import check_residual_block  # noqa: E402
from .style_loss import check_style_loss  # noqa: E402
from .sweep_grid import check_sweep_grid  # noqa: E402
from .total_loss import check_total_loss  # noqa: E402

common.serve_from(globals())  # the checks read data_dir and CACHE from here when they run

__all__ = [
    "CHECKS",
    "CheckFailed",
    "GRADIENT_HINT",
    "data_dir",
    "reference_arrays",
    "regenerate",
    "main",
    "check_conv2d",
    "check_deprocess",
    "check_content_loss",
    "check_gram_matrix",
    "check_style_loss",
    "check_total_loss",
    "check_adam_loop",
    "check_sweep_grid",
    "check_high_frequency_energy",
    "check_refined",
    "check_instance_norm",
    "check_residual_block",
]
