"""Writing the reference values: each exercise's ``generate``, run with its seed, stored in one
layout (see :mod:`.common`), byte-for-byte reproducibly.

``python -m nst_helpers.checks --regenerate`` runs :func:`main`. Regenerate only when an exercise
or its reference changes; tests/test_checks.py fails when a stored file no longer matches what the
library computes.
"""

from __future__ import annotations

import argparse
import importlib
import io
import pathlib
import zipfile
from typing import Sequence

import numpy as np

from . import common
from .common import CHECKS, ROOT

__all__ = ["reference_arrays", "regenerate", "main"]


def reference_arrays(name: str, seed: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """The arrays of check ``name``'s reference file, computed afresh with the library.

    The module's ``generate`` draws its random numbers from a generator seeded with
    ``[2024, position in CHECKS]``, or with the module's own ``SEED`` where it has one.

    Args:
        name: one of :data:`CHECKS`, the exercise's module in this package.
        seed: other random numbers than the stored ones (the grader draws a secret seed for each
            grading, so that stored answers cannot be replayed).

    Returns:
        ``{"n_cases": n, "c0.in.<input>": ..., "c0.expected": ..., "c0.mistake.<mistake>": ...}``.
    """
    module = importlib.import_module(f"{__package__}.{name}")
    if seed is None:
        seed = getattr(module, "SEED", (2024, CHECKS.index(name)))
    cases = module.generate(np.random.default_rng(list(seed)))
    arrays = {"n_cases": np.int64(len(cases))}
    for i, (inputs, expected, mistakes) in cases.items():
        for key, value in inputs.items():
            arrays[f"c{i}.in.{key}"] = np.asarray(value)
        arrays[f"c{i}.expected"] = np.asarray(expected)
        for key, value in mistakes.items():
            arrays[f"c{i}.mistake.{key}"] = np.asarray(value)
    return arrays


def _save_npz(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed``, but byte-for-byte reproducible (fixed timestamps, sorted keys),
    so regenerating unchanged values leaves the files unchanged."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def regenerate(folder: str | pathlib.Path | None = None) -> list[pathlib.Path]:
    """Write every check's reference file.

    Args:
        folder: where to write them; default ``data/checks`` of the checkout.

    Returns:
        The paths written.
    """
    if folder is None:
        if not (ROOT / "pyproject.toml").exists():
            raise FileNotFoundError(
                f"{ROOT} is not a checkout of the course; pass the folder to write to (--out DIR)."
            )
        folder = ROOT / "data" / "checks"
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in CHECKS:
        path = folder / f"{name}.npz"
        _save_npz(path, reference_arrays(name))
        paths.append(path)
    common.served("CACHE").clear()
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m nst_helpers.checks [--regenerate] [--out DIR]``.

    Args:
        argv: the arguments; default the command line's.

    Returns:
        The exit status, 0.
    """
    parser = argparse.ArgumentParser(
        prog="python -m nst_helpers.checks",
        description="The reference values of the exercises' checks.",
    )
    parser.add_argument(
        "--regenerate",
        action="store_true",
        help="recompute the reference values with the library and write them",
    )
    parser.add_argument("--out", default=None, help="folder to write to (default: data/checks)")
    args = parser.parse_args(argv)
    if not args.regenerate:
        data = common.served("data_dir")()
        print(f"Reference values are read from {data}; pass --regenerate to rewrite them.")
        return 0
    for path in regenerate(args.out):
        print(f"wrote {path}")
    return 0
