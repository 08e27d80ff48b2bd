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
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import pathlib
import shutil
import socket
import tempfile
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .config import StyleConfig, preset
from .errors import NSTError
from .images import load_image, save_image
from .optimize import stylize

__all__ = ["grid", "parse_grid", "executor_for", "write_figures", "run_name", "run_sweep", "load_sweep", "process_pool", "SweepResult",
           "RunRecord", "contact_sheet", "loss_figure"]

_DONE = ("finished", "converged")  # a run that stopped otherwise is run again on resume


def grid(**axes: Sequence[Any]) -> list[dict]:
    """Every combination of the given values, in order: ``grid(a=(1, 2), b=(3,))``.

    Returns:
        ``[{"a": 1, "b": 3}, {"a": 2, "b": 3}]``.
    """
    for key, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise NSTError(f"grid({key}=...) needs a list of values, not {values!r}.")
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(list(axes[k]) for k in keys))]


def _value(text: str) -> Any:
    """A grid value from the command line: a number where it reads as one, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"none": None, "true": True, "false": False}.get(text.lower(), text)


def parse_grid(specs: Sequence[str]) -> list[dict]:
    """``["style_weight=1e-1,1e-2", "learning_rate=2,4"]`` as :func:`grid` runs (4 here)."""
    axes = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not values.strip():
            raise NSTError(f"--grid {spec!r}: write SETTING=V1,V2,... such as style_weight=1e-1,1e-2.")
        if key in axes:
            raise NSTError(f"--grid gives {key} twice; list all its values once.")
        axes[key] = [_value(v.strip()) for v in values.split(",") if v.strip()]
    return grid(**axes) if axes else [{}]


@contextlib.contextmanager
def executor_for(workers: int | None = None, scheduler: str | None = None):
    """The executor that ``nst sweep --workers N`` or ``--scheduler ADDRESS`` means (or None)."""
    if scheduler:
        try:
            import distributed
        except ImportError:
            raise NSTError("--scheduler needs Dask's distributed package: "
                           "pip install nst-helpers[dask].") from None
        try:
            client = distributed.Client(scheduler, timeout=30)
        except (OSError, TimeoutError) as err:
            raise NSTError(f"could not reach the Dask scheduler at {scheduler}: {err}") from None
        with client:
            yield client.get_executor()
    elif workers:
        with process_pool(workers) as pool:
            yield pool
    else:
        yield None


def write_figures(result: SweepResult) -> list[pathlib.Path]:
    """Draw ``contact_sheet.png`` and ``losses.png`` into the sweep's folder (redrawn each time)."""
    import matplotlib.pyplot as plt

    if not any(r.report is not None for r in result.runs):
        return []
    paths = []
    for name, draw in (("contact_sheet.png", contact_sheet), ("losses.png", loss_figure)):
        fig = draw(result)
        fig.savefig(result.folder / name, dpi=100)
        plt.close(fig)
        paths.append(result.folder / name)
    return paths


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return "+".join(_short(v) for v in value)
    return str(value)


def run_name(settings: Mapping[str, Any]) -> str:
    """A folder name for one run's settings: ``learning_rate=4,style_weight=0.01``."""
    if not settings:
        return "base"
    text = ",".join(f"{k}={_short(v)}" for k, v in sorted(settings.items()))
    return "".join(c if c.isalnum() or c in "=,.+-_" else "_" for c in text)


def _fingerprint(image: np.ndarray) -> str:
    return hashlib.sha256(image.tobytes() + str(image.shape).encode()).hexdigest()[:16]


@dataclasses.dataclass
class RunRecord:
    """One finished (or failed) run of a sweep, as stored in its folder."""

    name: str
    settings: dict
    folder: pathlib.Path | None = None
    report: dict | None = None  # None when the run failed or has not run
    error: str = ""
    skipped: bool = False  # found done in the folder, not run again

    @property
    def done(self) -> bool:
        return self.report is not None and self.report.get("stop_reason") in _DONE

    def image(self, step: int | None = None) -> np.ndarray:
        """The run's best image, or its image at a snapshot ``step``, as uint8 RGB."""
        if self.folder is None:
            raise NSTError(f"run {self.name} has no folder; it failed: {self.error}")
        path = self.folder / ("result.png" if step is None else f"step_{int(step):05d}.png")
        if not path.exists():
            have = sorted(p.stem for p in self.folder.glob("step_*.png"))
            raise NSTError(f"{path} does not exist; this run has {', '.join(have) or 'no snapshots'}.")
        return load_image(path, max_side=None)


@dataclasses.dataclass
class SweepResult:
    """What :func:`run_sweep` did: one :class:`RunRecord` per run, in the order given."""

    folder: pathlib.Path
    runs: list
    interrupted: bool = False  # Ctrl-C stopped the sweep; run it again to resume

    @property
    def failed(self) -> list:
        return [r for r in self.runs if not r.done]

    def __repr__(self) -> str:
        done = sum(r.done for r in self.runs)
        skipped = sum(r.skipped for r in self.runs)
        return (f"SweepResult({self.folder}: {done}/{len(self.runs)} runs done, {skipped} of them "
                f"found done before, {len(self.failed)} not done"
                f"{', interrupted' if self.interrupted else ''})")


def process_pool(workers: int = 2) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes, each with its own TensorFlow and backbone.

    .. note:: Split the cores between workers yourself (``TF_NUM_INTRAOP_THREADS``) if each run
       is small; on a laptop one process using every core is usually as fast as a pool.
    """
    if not (isinstance(workers, int) and workers >= 1):
        raise NSTError(f"workers must be a whole number >= 1, not {workers!r}.")
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


@dataclasses.dataclass
class _Task:
    """Everything a worker needs for one run: plain data only, so any executor can ship it."""

    name: str
    settings: dict
    config: dict
    content: np.ndarray
    style: np.ndarray
    snapshots: tuple
    callback: Callable | None = None


def _run_task(task: _Task) -> dict:
    """Run one sweep run (in a worker); return its arrays and report as plain data."""
    snaps = {}
    every = math.gcd(*task.snapshots) if task.snapshots else None
    wanted = set(task.snapshots)

    def callback(p):
        if p.step in wanted:
            snaps[p.step] = p.image()
        if task.callback is not None:
            task.callback(task.name, p)

    t0 = time.perf_counter()
    result = stylize(task.content, task.style, StyleConfig(**task.config), progress=False,
                     verbose=False, callback=callback if (every or task.callback) else None,
                     callback_every=every or 10)
    report = result.report()
    # Every term's history, not only the total: totals made with different weights cannot be
    # compared, each term divided by its weight can (a non-finite value is written as null).
    terms = {k: [float(x) if math.isfinite(x) else None for x in v]
             for k, v in result.history.items() if k != "total"}
    report.update(name=task.name, settings=task.settings, host=socket.gethostname(),
                  pid=os.getpid(), wall_seconds=round(time.perf_counter() - t0, 3),
                  snapshots=sorted(snaps), term_history=terms)
    return {"image": result.image, "snapshots": snaps, "report": report,
            "config": result.config}


def _write_run(folder: pathlib.Path, out: dict) -> pathlib.Path:
    """Write one run's files into ``folder`` all at once (a temporary folder, then a rename)."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    meta = {"backbone": out["report"]["backbone"], "nst_config": out["report"]["config"],
            "best_loss": out["report"]["best_loss"], "steps": out["report"]["steps"]}
    save_image(out["image"], tmp / "result.png", metadata=meta)
    for step, img in out["snapshots"].items():
        save_image(img, tmp / f"step_{step:05d}.png")
    (tmp / "report.json").write_text(json.dumps(out["report"], indent=1, allow_nan=False))
    if folder.exists():  # an earlier interrupted or failed attempt of this run
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def _read_report(folder: pathlib.Path) -> dict | None:
    try:
        return json.loads((folder / "report.json").read_text())
    except (OSError, ValueError):
        return None


def _header(out: pathlib.Path, base: StyleConfig, content: np.ndarray, style: np.ndarray) -> dict:
    header = {"config": base.to_dict(), "content": _fingerprint(content), "style": _fingerprint(style),
              "content_shape": list(content.shape), "style_shape": list(style.shape)}
    return json.loads(json.dumps(header))  # tuples as lists, as read back


def _open_folder(out: pathlib.Path, header: dict) -> None:
    """Make ``out`` or check that it holds a sweep of the same images and preset."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sweep.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            raise NSTError(f"{path} is not valid JSON; remove it or choose another folder.") from None
        differ = [k for k in header if old.get(k) != header[k]]
        if differ:
            raise NSTError(
                f"{out} holds a sweep with a different {', '.join(differ)}; resume it with the same "
                "images and preset, or choose another folder.")
    elif any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise NSTError(f"{out} is not empty and holds no sweep.json; choose an empty or new folder.")
    else:
        path.write_text(json.dumps(header, indent=1))


def _plan(runs: Iterable[Mapping[str, Any]], base: StyleConfig) -> list:
    """``[(name, settings, config)]``, every settings dict validated before anything runs."""
    plan, seen = [], set()
    for settings in runs:
        if not isinstance(settings, Mapping):
            raise NSTError(f"each run must be a dict of settings, not {settings!r}.")
        settings = dict(settings)
        cfg = base.replace(**settings)
        name = run_name(settings)
        if name in seen:
            raise NSTError(f"the run {name} is listed twice; give each run once.")
        seen.add(name)
        plan.append((name, json.loads(json.dumps(settings)), cfg))
    return plan


def _check_snapshots(snapshots: Iterable[int]) -> tuple:
    snaps = tuple(sorted(set(snapshots)))
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in snaps):
        raise NSTError(f"snapshots must be whole step numbers >= 1, not {list(snapshots)!r}.")
    return snaps


def run_sweep(content: Any, style: Any, runs: Iterable[Mapping[str, Any]], out_dir: str | os.PathLike,
              config: str | StyleConfig = "fast", *, executor: cf.Executor | None = None,
              snapshots: Iterable[int] = (), callback: Callable | None = None,
              on_result: Callable[[RunRecord], None] | None = None, verbose: bool = True,
              **changes: Any) -> SweepResult:
    """Run ``config`` with each of ``runs``' settings on ``content`` and ``style``.

    Args:
        content, style: anything :func:`nst_helpers.images.load_image` reads; sized once, here,
            by the preset's ``max_side``.
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
        again runs only the runs not done. Ctrl-C stops the sweep and keeps every finished run.
    """
    base = preset(config, **changes)
    snaps = _check_snapshots(snapshots)
    plan = _plan(runs, base)
    c_img = load_image(content, max_side=base.max_side, name="content image")
    s_img = load_image(style, max_side=base.max_side, name="style image")
    out = pathlib.Path(out_dir).expanduser()
    _open_folder(out, _header(out, base, c_img, s_img))
    records, pending = [], []
    for name, settings, cfg in plan:
        rec = RunRecord(name, settings)
        report = _read_report(out / name)
        if report is not None and report.get("stop_reason") in _DONE:
            if report.get("settings") != settings:
                raise NSTError(f"{out / name} holds a run with other settings; remove it.")
            rec.folder, rec.report, rec.skipped = out / name, report, True
        else:
            pending.append((rec, _Task(name, settings, cfg.to_dict(), c_img, s_img, snaps, callback)))
        records.append(rec)
    if verbose:
        print(f"Sweep in {out}: {len(plan)} runs, {len(plan) - len(pending)} already done, "
              f"{len(pending)} to run" + (f" on {type(executor).__name__}" if executor else "") + ".")
    interrupted = _execute(pending, executor, out, on_result, verbose)
    result = SweepResult(out, records, interrupted)
    if verbose and (interrupted or result.failed):
        print(f"{'Interrupted: ' if interrupted else ''}{len(plan) - len(result.failed)} of "
              f"{len(plan)} runs done; run the same sweep again to run the rest.")
    return result


def _finish(rec: RunRecord, out: pathlib.Path, fetch: Callable[[], dict], verbose: bool) -> None:
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
    rec.folder = _write_run(out / rec.name, data)
    rec.report = data["report"]
    if verbose:
        r = rec.report
        print(f"  {rec.name}: {r['stop_reason']}, best loss {r['best_loss']:.4g} "
              f"after {r['steps']} steps, {r['seconds']:.0f} s [{r['backbone']}]")


def _execute(pending: list, executor: cf.Executor | None, out: pathlib.Path,
             on_result: Callable | None, verbose: bool) -> bool:
    """Run the pending runs; True if Ctrl-C stopped the sweep (finished runs are kept)."""
    if executor is None:
        for rec, task in pending:
            try:
                _finish(rec, out, lambda: _run_task(task), verbose)
            except KeyboardInterrupt:  # between two runs' steps: nothing of this run to keep
                return True
            if on_result:
                on_result(rec)
            if rec.report and rec.report.get("stop_reason") == "interrupted":
                return True  # the run kept its best image (not counted done); stop the sweep
        return False
    futures = {executor.submit(_run_task, task): rec for rec, task in pending}
    try:
        for fut in cf.as_completed(futures):
            rec = futures[fut]
            _finish(rec, out, fut.result, verbose)
            if on_result:
                on_result(rec)
    except KeyboardInterrupt:
        for fut in futures:
            fut.cancel()
        return True
    return False


def load_sweep(out_dir: str | os.PathLike) -> list[RunRecord]:
    """The finished runs stored in a sweep folder, in name order."""
    out = pathlib.Path(out_dir).expanduser()
    if not (out / "sweep.json").exists():
        raise NSTError(f"{out} holds no sweep (no sweep.json); give the folder run_sweep wrote.")
    records = []
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        report = _read_report(folder)
        if report is not None:
            records.append(RunRecord(report.get("name", folder.name), report.get("settings", {}),
                                     folder, report))
    return records


def _records(source: Any) -> list:
    if isinstance(source, SweepResult):
        return [r for r in source.runs if r.report is not None]
    if isinstance(source, (str, os.PathLike)):
        return load_sweep(source)
    return list(source)


def contact_sheet(source: Any, step: int | None = None, cols: int | None = None,
                  size: float = 3.0):
    """A figure of every run's image (best, or at snapshot ``step``), titled with its settings.

    Args:
        source: a sweep folder, a :class:`SweepResult` or a list of :class:`RunRecord`.
    """
    import matplotlib.pyplot as plt

    recs = _records(source)
    if not recs:
        raise NSTError("this sweep has no finished runs yet.")
    cols = cols or min(len(recs), 4)
    rows = -(-len(recs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows * 0.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, rec in zip(axes.flat, recs):
        ax.imshow(rec.image(step))
        r = rec.report
        ax.set_title(f"{rec.name.replace(',', chr(10))}\nloss {r['best_loss']:.3g}", fontsize=8)
    backbones = sorted({r.report["backbone"] for r in recs})
    fig.suptitle(f"{'best images' if step is None else f'step {step}'}; network: "
                 f"{', '.join(backbones)}", fontsize=9)
    fig.tight_layout()
    return fig


def loss_figure(source: Any, ax=None, log: bool = True):
    """Every run's total loss against steps, on one axis (log scale)."""
    import matplotlib.pyplot as plt

    recs = _records(source)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for rec in recs:
        hist = [v for v in rec.report["loss_history"] if v is not None]
        ax.plot(np.arange(1, len(hist) + 1), hist, label=rec.name, lw=1)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("total loss (weighted)")
    backbones = sorted({r.report["backbone"] for r in recs})
    ax.set_title(f"network: {', '.join(backbones)}", fontsize=9)
    ax.legend(fontsize=7)
    return ax.figure
