"""``nst grade``: a class's submitted notebooks graded into a CSV file."""

from __future__ import annotations

from typing import Any

from .options import nonneg_float as _nonneg_float, positive_int as _positive_int

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``grade`` to the subcommands ``sub``."""
    gr = sub.add_parser("grade", help="grade submitted student notebooks into a CSV file",
                        description="Run each submitted notebook's answers in a fresh kernel with "
                        "the course's own checks and reference values, and write one row per "
                        "student, one column per exercise (passed, failed with the check's hint, "
                        "or not attempted), the points and notes. Needs pip install "
                        "\"nst-helpers[grade]\"; exit status 1 when some notebooks could not be "
                        "run (their rows say why), 2 when none could (no CSV is written).")
    gr.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                    help="notebooks, or folders of them (alice/03_content_loss.ipynb, "
                    "alice_03_content_loss.ipynb, nbgrader's submitted/ folder)")
    gr.add_argument("--out", default="grades.csv", help="the CSV file (default: grades.csv)")
    gr.add_argument("--timeout", type=_nonneg_float, default=600,
                    help="seconds one notebook's cells may run in all (default: 600)")
    gr.add_argument("--jobs", type=_positive_int, help="notebooks graded at once (default: half "
                    "the cores)")
    gr.add_argument("--scheduler", metavar="ADDRESS", help="grade on this Dask cluster instead")
    gr.add_argument("--course", metavar="DIR", help="the course's student notebooks (default: "
                    "notebooks/student of this checkout)")
    gr.add_argument("--force", action="store_true", help="replace --out if it exists")
    gr.add_argument("-q", "--quiet", action="store_true", help="no line per notebook")


def run(args: Any) -> int:
    """``nst grade``: grade the submissions as asked (:mod:`nst_helpers.grading`)."""
    from ..grading import run_command  # nbclient and the kernels: only for this command

    return run_command(args)
