"""Running a sweep: each run in a worker (:func:`run_task`), its files written here as it ends.

A :class:`Task` holds plain data only (settings, NumPy images), so that any executor can ship it;
:func:`run_task` imports TensorFlow on the first run and returns arrays and plain dicts. Only this
process writes files (:func:`finish`), so workers need no shared disk.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import math
import os
import pathlib
import socket
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import StyleConfig
from .folders import open_folder, set_aside, write_run
from .planning import SweepPlan, plan_sweep
from .records import RunRecord, SweepResult

if TYPE_CHECKING:
    from ..loop import Progress

__all__ = ["Task", "run_task", "finish", "execute", "run_plan", "run_sweep"]


@dataclasses.dataclass
class Task:
    """Everything a worker needs for one run: plain data only, so any executor can ship it."""

    name: str
    settings: dict
    config: dict
    content: np.ndarray
    style: np.ndarray
    snapshots: tuple
    callback: Callable | None = None


def _term_history(history: Mapping[str, Iterable[float]]) -> dict:
    """Every term's history but the total's, a non-finite value written as None (JSON null)."""
    # Every term's history, not only the total: totals made with different weights cannot be
    # compared, each term divided by its weight can.
    return {
        k: [float(x) if math.isfinite(x) else None for x in v]
        for k, v in history.items()
        if k != "total"
    }


def run_task(task: Task) -> dict:
    """Run one sweep run (in a worker); return its arrays and report as plain data."""
    from ..optimize import stylize  # TensorFlow: imported by the first run, not by the checks

    snaps = {}
    every = math.gcd(*task.snapshots) if task.snapshots else None
    wanted = set(task.snapshots)

    def callback(p: Progress) -> None:
        if p.step in wanted:
            snaps[p.step] = p.image()
        if task.callback is not None:
            task.callback(task.name, p)

    t0 = time.perf_counter()
    result = stylize(
        task.content,
        task.style,
        StyleConfig(**task.config),
        progress=False,
        verbose=False,
        callback=callback if (every or task.callback) else None,
        callback_every=every or 10,
    )
    report = result.report()
    report.update(
        name=task.name,
        settings=task.settings,
        host=socket.gethostname(),
        pid=os.getpid(),
        wall_seconds=round(time.perf_counter() - t0, 3),
        snapshots=sorted(snaps),
        term_history=_term_history(result.history),
    )
    return {"image": result.image, "snapshots": snaps, "report": report, "config": result.config}


def finish(rec: RunRecord, out: pathlib.Path, fetch: Callable[[], dict], verbose: bool) -> None:
    """Store one run's outcome in its folder and its record."""
    try:
        data = fetch()
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # a run's own error, or its worker lost (Dask: KilledWorker)
        rec.error = f"{type(err).__name__}: {err}".strip().rstrip(":")
        if verbose:
            print(f"  {rec.name}: failed ({rec.error}); the other runs go on.")
        return
    try:
        rec.folder = write_run(out / rec.name, data)
    except (OSError, ValueError) as err:  # the folder went, the disk is full ...
        rec.error = f"could not write {out / rec.name} ({getattr(err, 'strerror', None) or err})"
        print(f"  {rec.name}: {rec.error}; the other runs go on.", file=sys.stderr)
        return
    rec.report = data["report"]
    if verbose:
        r = rec.report
        best = "none" if r["best_loss"] is None else f"{r['best_loss']:.4g}"
        print(
            f"  {rec.name}: {r['stop_reason']}, best loss {best} "
            f"after {r['steps']} steps, {r['seconds']:.0f} s [{r['backbone']}]"
        )


def _execute_here(
    pending: list, out: pathlib.Path, on_result: Callable | None, verbose: bool
) -> bool:
    """Run the pending runs one after another in this process; True if Ctrl-C stopped them."""
    for rec, task in pending:
        try:
            finish(rec, out, lambda: run_task(task), verbose)
        except KeyboardInterrupt:  # between two runs' steps: nothing of this run to keep
            return True
        if on_result:
            on_result(rec)
        if rec.report and rec.report.get("stop_reason") == "interrupted":
            return True  # the run kept its best image (not counted done); stop the sweep
    return False


def execute(
    pending: list,
    executor: cf.Executor | None,
    out: pathlib.Path,
    on_result: Callable | None,
    verbose: bool,
) -> bool:
    """Run the pending runs; True if Ctrl-C stopped the sweep (finished runs are kept)."""
    if executor is None:
        return _execute_here(pending, out, on_result, verbose)
    futures = {executor.submit(run_task, task): rec for rec, task in pending}
    try:
        for fut in cf.as_completed(futures):
            rec = futures[fut]
            finish(rec, out, fut.result, verbose)
            if on_result:
                on_result(rec)
    except KeyboardInterrupt:
        for fut in futures:
            fut.cancel()
        return True
    return False


def _pending(plan: SweepPlan, callback: Callable | None, verbose: bool) -> tuple[list, list]:
    """Every run's :class:`RunRecord`, and ``[(record, Task)]`` of those to run; a damaged run's
    files are moved aside first, and a line says why each run that ran before runs again."""
    out = plan.folder
    records, pending = [], []
    for (name, settings, cfg), (state, why, report) in zip(plan.runs, plan.states):
        rec = RunRecord(name, settings)
        records.append(rec)
        if state == "done":
            rec.folder, rec.report, rec.skipped = out / name, report, True
            continue
        if state == "damaged":  # said whether verbose or not: files of the user's moved
            aside = set_aside(out / name)
            print(
                f"{name}: {why}; running it again (its files are kept in {aside}).",
                file=sys.stderr,
                flush=True,
            )
        elif state == "again" and verbose:
            print(f"{name}: {why}; running it again.")
        task = Task(
            name, settings, cfg.to_dict(), plan.content, plan.style, plan.snapshots, callback
        )
        pending.append((rec, task))
    return records, pending


def run_plan(
    plan: SweepPlan,
    *,
    executor: cf.Executor | None = None,
    callback: Callable | None = None,
    on_result: Callable[[RunRecord], None] | None = None,
    verbose: bool = True,
) -> SweepResult:
    """Run a :class:`SweepPlan`: make the folder, set damaged runs aside, run what is not done.

    A damaged run's remaining files are moved to ``OUT/.damaged/NAME/`` and a line on stderr says
    so, whether ``verbose`` or not (it is about files of yours that moved).
    """
    out, n = plan.folder, len(plan.runs)
    open_folder(out, plan.header)
    records, pending = _pending(plan, callback, verbose)
    if verbose:
        print(
            f"Sweep in {out}: {n} runs, {n - len(pending)} already done, {len(pending)} to run"
            + (f" on {type(executor).__name__}" if executor else "")
            + ".",
            flush=True,
        )
    interrupted = execute(pending, executor, out, on_result, verbose)
    result = SweepResult(out, records, interrupted)
    if verbose and (interrupted or result.failed):
        print(
            f"{'Interrupted: ' if interrupted else ''}{n - len(result.failed)} of {n} runs done; "
            "run the same sweep again to run the rest."
        )
    return result


def run_sweep(
    content: Any,
    style: Any,
    runs: Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    config: str | StyleConfig = "fast",
    *,
    executor: cf.Executor | None = None,
    snapshots: Iterable[int] = (),
    callback: Callable | None = None,
    on_result: Callable[[RunRecord], None] | None = None,
    verbose: bool = True,
    **changes: Any,
) -> SweepResult:
    """Run ``config`` with each of ``runs``' settings on ``content`` and ``style``.

    Args:
        content, style: anything :func:`nst_helpers.images.load_image` reads; sized once, here,
            by the preset's ``max_side`` (or the largest ``max_side`` of the runs).
        runs: settings dicts, e.g. ``grid(style_weight=(1e-1, 1e-2), learning_rate=(2, 4))``.
        out_dir: the sweep's folder: new, empty, or an earlier run of the same sweep (resumed).
        config: the preset or :class:`StyleConfig` that every run starts from; ``**changes``
            apply to all runs (``steps=7500, backbone="vgg19"``).
        executor: where runs go: ``None`` (here, one after another), :func:`process_pool`, or a
            Dask cluster's ``client.get_executor()``.
        snapshots: steps at which to keep the current image as well (``step_01000.png``); the
            seed's 1000-step runs are its 7500-step runs' image at step 1000.
        callback: ``callback(name, progress)``, called in the worker every snapshot step (or
            every 10 steps); it must be picklable to travel to other processes.
        on_result: called here with each :class:`RunRecord` as it finishes.

    Returns:
        A :class:`SweepResult`. Runs that raise, or whose worker dies, are reported in
        ``result.failed`` with the error, and the others still finish; running the same sweep
        again runs only the runs not done, and the runs whose files were deleted or damaged
        since. Ctrl-C stops the sweep and keeps every finished run.

    Raises:
        NSTError: before anything runs or is written, for anything :func:`plan_sweep` checks.
    """
    plan = plan_sweep(content, style, runs, out_dir, config, snapshots=snapshots, **changes)
    return run_plan(
        plan, executor=executor, callback=callback, on_result=on_result, verbose=verbose
    )
