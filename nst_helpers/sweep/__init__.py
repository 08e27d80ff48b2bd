"""Sweeps: many runs over one content and style image, on one machine or on a cluster.

A sweep is a list of settings (often a :func:`grid`) applied in turn to one preset. Each run's
result is written to its own folder as soon as it finishes, so a sweep that stops (Ctrl-C, a
closed laptop, a lost worker) resumes where it was: :func:`run_sweep` skips the runs whose folder
is complete and runs only the rest.

Runs go to any :class:`concurrent.futures.Executor`:

- none (the default): one after another in this process;
- a process pool: ``process_pool(2)`` (processes are *spawned*: a forked TensorFlow can hang);
- a Dask cluster: ``distributed.Client(...).get_executor()``, for a class's JupyterHub (Dask
  Gateway), a Kubernetes cluster or ``distributed.LocalCluster`` (see ``docs/sweeps.md``).

Each worker loads the backbone once and reuses it for every run it gets. Images travel to the
workers as NumPy arrays and results come back as arrays and plain dicts, never as TensorFlow
objects; only this process writes files, so workers need no shared disk.

A run's folder (``OUT/NAME/``) holds ``result.png`` (the best image, with its settings stored
in it), ``report.json`` (:meth:`StyleResult.report` plus the run's settings, timings, backbone
and host) and ``step_NNNNN.png`` for each step in ``snapshots``. ``OUT/sweep.json`` records the
preset and the images' fingerprints, so that a resumed sweep cannot mix two studies.

Everything is checked before anything runs or is written, and without TensorFlow (it is imported
by the first run): the settings of every run, the folder, the images and a Dask scheduler's
address. A run whose files were deleted or damaged since (a missing or truncated image, a report
that is not valid JSON) is run again on resume; its remaining files are moved to
``OUT/.damaged/NAME/`` first, and a line says so.

The parts: :mod:`.grids` (the runs' settings: :func:`grid`, ``--grid`` read by :func:`parse_grid`,
run names), :mod:`.executors` (a process pool, a Dask scheduler), :mod:`.planning` (a sweep
checked before it runs), :mod:`.folders` (``sweep.json`` and each run's folder), :mod:`.execution`
(the runs, in workers), :mod:`.records` (what a sweep did, read back) and :mod:`.figures`.
"""

from __future__ import annotations

from ..config import preset  # noqa: F401 - ``sweep.preset``, as the tests and the study use it
from .execution import (
    Task as _Task,  # noqa: F401 - the names of the module before it was a package
    run_plan,
    run_sweep,
    run_task as _run_task,  # noqa: F401
)
from .executors import check_scheduler, executor_for, process_pool
from .figures import contact_sheet, loss_figure, write_figures
from .folders import image_problem as _image_problem, run_state as _state  # noqa: F401
from .grids import (  # noqa: F401
    GRID_EXAMPLE,
    example as _example,
    grid,
    parse_grid,
    run_name,
    short_value,
    suggest_grid,
)
from .planning import SweepPlan, plan_runs as _plan, plan_sweep  # noqa: F401
from .records import RunRecord, SweepResult, load_sweep

__all__ = [
    "grid",
    "parse_grid",
    "check_scheduler",
    "executor_for",
    "write_figures",
    "run_name",
    "plan_sweep",
    "run_plan",
    "run_sweep",
    "load_sweep",
    "process_pool",
    "SweepPlan",
    "SweepResult",
    "RunRecord",
    "contact_sheet",
    "loss_figure",
    "short_value",
    "suggest_grid",
]
