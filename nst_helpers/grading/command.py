"""``nst grade``: the command line's handler (see :func:`nst_helpers.grading.grade`)."""

from __future__ import annotations

import argparse
import pathlib
import sys

from .common import GRADER_FAILED, RUN_FAILED, check_installed
from .table import check_out

__all__ = ["run_command"]


def run_command(args: argparse.Namespace) -> int:
    """``nst grade``: what the command line asked for (see :func:`nst_helpers.grading.grade`).

    Args:
        args: the parsed command line (submissions, out, timeout, jobs, scheduler, course, force,
            quiet).

    Returns:
        0, or 1 when some notebooks could not be graded through no fault of their own (their rows
        say why, and a line on stderr).
    """
    from . import grade  # defined in the package, which imports this module

    check_installed()
    if args.out is not None:
        check_out(pathlib.Path(args.out), args.force)  # before connecting to a cluster
    executor_cm = None
    if getattr(args, "scheduler", None):
        from ..sweep import executor_for

        executor_cm = executor_for(scheduler=args.scheduler)
    if executor_cm is None:
        rows = grade(args.submissions, args.out, timeout=args.timeout, jobs=args.jobs,
                     course=args.course, force=args.force, verbose=not args.quiet)
    else:
        with executor_cm as executor:
            rows = grade(args.submissions, args.out, timeout=args.timeout, executor=executor,
                         course=args.course, force=args.force, verbose=not args.quiet)
    for row in rows:
        print(f"{row['student']}: {row['points']} / {row['out of']}"
              + (f"  ({row['notes']})" if row["notes"] else ""))
    print(f"wrote {args.out}")
    troubled = [row["student"] for row in rows
                if GRADER_FAILED in row["notes"] or RUN_FAILED in row["notes"]]
    if troubled:
        print(f"nst: warning: the grader could not run some notebooks of {', '.join(troubled)} "
              "(see their notes); grade them again.", file=sys.stderr)
        return 1
    return 0
