"""``nst sweep``: a grid of settings on one content and style, resumable, on a cluster too."""

from __future__ import annotations

import argparse
from typing import Any

from .. import sweep as sweeps
from ..config import PRESETS
from ..errors import NSTError
from .options import image_arg as _image_arg, option_names, positive_int as _positive_int
from .run import add_setting_options, changes as given_settings
from .signals import interrupted_status

__all__ = ["add_parser", "run"]


def _step_list(text: str) -> list[int]:
    try:
        steps = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(
            f"expected whole step numbers >= 1 such as 1000,2500, not {text!r}"
        )
    return steps


def add_parser(sub: Any, samples: Any) -> None:
    """Add ``sweep`` to the subcommands ``sub``."""
    sw = sub.add_parser(
        "sweep",
        help="run a grid of settings on CONTENT and STYLE, resumably",
        description="Run every combination of the --grid values on CONTENT and STYLE. Each run "
        "is written to OUT/NAME/ as it finishes (result.png, report.json, snapshots); "
        "running the same command again resumes, skipping the runs that are done; a "
        "run whose files were deleted or damaged since runs again, its files moved to "
        "OUT/.damaged/NAME/ first. Then OUT/contact_sheet.png and OUT/losses.png are "
        "drawn. Everything is checked before the first run. Exit status: 0 every run "
        "done; 1 some runs failed (each says why; run the command again to retry "
        "them); 2 bad input, a folder that cannot hold the sweep or a scheduler that "
        "cannot be reached; 130 Ctrl-C and 143 SIGTERM (finished runs are kept).",
    )
    sw.add_argument("content", help="content image file or sample photograph")
    sw.add_argument("style", help="style image file or sample painting")
    sw.add_argument("out", help="the sweep's folder: new, empty, or an earlier run of this sweep")
    sw.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="SETTING=V1,V2,...",
        help="a setting (its Python name, as in the runs' folders) and its values, "
        "e.g. style_weight=1e-1,1e-2 (repeat for more axes; every combination "
        "runs); none, true and false as words; the layers of one value joined "
        "with +, e.g. style_layers=block1_conv1+block2_conv1,block3_conv1",
    )
    sw.add_argument(
        "--preset",
        default="fast",
        choices=list(PRESETS),
        help="the settings every run starts from (default: fast)",
    )
    add_setting_options(
        sw.add_argument_group("settings of every run (each replaces the preset's value)")
    )
    sw.add_argument(
        "--snapshots",
        type=_step_list,
        metavar="S1,S2,...",
        help="also keep each run's image at these steps, e.g. 1000",
    )
    where = sw.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="run in N local processes (default: one run after another here)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster, e.g. tcp://scheduler:8786 (pip install nst-helpers[dask])",
    )
    sw.add_argument("-q", "--quiet", action="store_true", help="print only the summary")


def run(args: Any, term: dict | None = None) -> int:
    """``nst sweep``: everything checked (grid, settings, folder, images, scheduler) before
    TensorFlow is imported or anything is written; the first run imports it.

    Its messages are printed as they are (see :func:`main`): a grid is written in settings'
    names, and the runs' folders are named after them."""
    changes = given_settings(args)
    runs = sweeps.parse_grid(args.grid)
    both = sorted({key for run in runs for key in run} & set(changes))
    if both:
        key = both[0]
        values = [sweeps.short_value(run[key]) for run in runs] + [sweeps.short_value(changes[key])]
        raise NSTError(
            f"{key} is given by {option_names()[key]} and by --grid; give it in one "
            f"place: the option for one value, the grid for several, such as "
            f"{sweeps.suggest_grid(key, values)}."
        )
    if args.scheduler:
        sweeps.check_scheduler(args.scheduler)
    content, style = _image_arg(args.content, "content"), _image_arg(args.style, "style")
    plan = sweeps.plan_sweep(
        content, style, runs, args.out, args.preset, snapshots=args.snapshots or (), **changes
    )
    with sweeps.executor_for(workers=args.workers, scheduler=args.scheduler) as executor:
        result = sweeps.run_plan(plan, executor=executor, verbose=not args.quiet)
    try:
        sheets = ", ".join(str(p) for p in sweeps.write_figures(result)) or "none (no run finished)"
    except NSTError as err:
        sheets = f"none ({err})"
    print(f"{result}\nFigures: {sheets}")
    if result.interrupted:
        return interrupted_status(term or {})
    return 1 if result.failed else 0
