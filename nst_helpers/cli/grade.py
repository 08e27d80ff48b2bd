"""``nst grade``: a class's submitted notebooks graded into a CSV file."""

from __future__ import annotations

import pathlib
import sys
from typing import Any

from .options import nonneg_float as _nonneg_float, positive_int as _positive_int

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add ``grade`` to the subcommands ``sub``."""
    gr = sub.add_parser(
        "grade",
        help="grade submitted student notebooks into a CSV file",
        description="Run each submitted notebook's answers in a fresh kernel with "
        "the course's own checks and reference values, and write one row per "
        "student, one column per exercise (passed, failed with the check's hint, "
        "or not attempted), the points and notes. Needs pip install "
        '"nst-helpers[grade]"; exit status 1 when some notebooks could not be '
        "run (their rows say why), 2 when none could (no CSV is written).",
    )
    gr.add_argument(
        "submissions",
        nargs="+",
        metavar="SUBMISSION",
        help="notebooks, or folders of them (alice/03_content_loss.ipynb, "
        "alice_03_content_loss.ipynb, nbgrader's submitted/ folder)",
    )
    gr.add_argument("--out", default="grades.csv", help="the CSV file (default: grades.csv)")
    gr.add_argument(
        "--timeout",
        type=_nonneg_float,
        default=600,
        help="seconds one notebook's cells may run in all (default: 600)",
    )
    gr.add_argument(
        "--jobs", type=_positive_int, help="notebooks graded at once (default: half the cores)"
    )
    gr.add_argument("--scheduler", metavar="ADDRESS", help="grade on this Dask cluster instead")
    gr.add_argument(
        "--course",
        metavar="DIR",
        help="the course's student notebooks (default: notebooks/student of this checkout)",
    )
    gr.add_argument("--force", action="store_true", help="replace --out if it exists")
    gr.add_argument("-q", "--quiet", action="store_true", help="no line per notebook")


def run(args: Any) -> int:
    """``nst grade``: grade the submissions as asked (:func:`nst_helpers.grading.grade`).

    Returns:
        0, or 1 when some notebooks could not be graded through no fault of their own (their rows
        say why, and a line on stderr).
    """
    # nbclient, the kernels and the sandbox: imported for this command only
    from ..grading import GRADER_FAILED, RUN_FAILED, check_installed, check_out, grade
    from ..sweep import executor_for

    check_installed()
    if args.out is not None:
        check_out(pathlib.Path(args.out), args.force)  # before connecting to a cluster
    executor_cm = None
    if getattr(args, "scheduler", None):
        executor_cm = executor_for(scheduler=args.scheduler)
    if executor_cm is None:
        rows = grade(
            args.submissions,
            args.out,
            timeout=args.timeout,
            jobs=args.jobs,
            course=args.course,
            force=args.force,
            verbose=not args.quiet,
        )
    else:
        with executor_cm as executor:
            rows = grade(
                args.submissions,
                args.out,
                timeout=args.timeout,
                executor=executor,
                course=args.course,
                force=args.force,
                verbose=not args.quiet,
            )
    for row in rows:
        print(
            f"{row['student']}: {row['points']} / {row['out of']}"
            + (f"  ({row['notes']})" if row["notes"] else "")
        )
    print(f"wrote {args.out}")
    troubled = [
        row["student"]
        for row in rows
        if GRADER_FAILED in row["notes"] or RUN_FAILED in row["notes"]
    ]
    if troubled:
        print(
            f"nst: warning: the grader could not run some notebooks of {', '.join(troubled)} "
            "(see their notes); grade them again.",
            file=sys.stderr,
        )
        return 1
    return 0
