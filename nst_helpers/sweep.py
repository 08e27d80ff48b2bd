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
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import difflib
import hashlib
import importlib.util
import itertools
import json
import math
import multiprocessing
import os
import pathlib
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from PIL import Image

from .choices import BACKBONES, vgg_layer_names
from .config import SETTINGS, StyleConfig, preset
from .errors import NSTError
from .images import check_folder, default_max_side, load_image, save_image

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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


#: A grid that parses, for messages; each setting's own example is in :func:`_example`.
GRID_EXAMPLE = "--grid style_weight=1e-1,1e-2 --grid learning_rate=2,4"

#: Examples of each setting's values where the preset's value does not make one (see _example).
_EXAMPLES = {
    "steps": "100,300",
    "seed": "0,1",
    "max_side": "128,256",
    "content_layers": "block4_conv2,block5_conv2",
    "style_layers": "block1_conv1+block2_conv1,block3_conv1+block4_conv1",
    "style_layer_weights": "none",
    "backbone": "vgg19,random",
    "trainable": "false,true",
    "preserve_color": "none,luminance",
}


def _example(name: str) -> str:
    """``--grid NAME=V1,V2`` with values that setting takes (a grid that parses)."""
    if name in _EXAMPLES:
        values = _EXAMPLES[name]
    elif SETTINGS[name].choices is not None:
        values = ",".join(str(c) for c in SETTINGS[name].choices if c is not None)
    else:  # a float setting: the fast preset's value and a tenth of it (or 0 and 1)
        v = getattr(preset("fast"), name)
        values = f"{v:g},{v / 10:g}" if v else "0,1"
    return f"--grid {name}={values}"


def _options() -> dict:
    """``{option without dashes: setting}``: ``lr`` -> ``learning_rate``, for a suggestion."""
    return {s.option.lstrip("-").replace("-", "_"): s.name for s in SETTINGS.values() if s.option}


def suggest_grid(key: str, values: Sequence[str]) -> str:
    """``--grid KEY=V1,V2`` with the user's own values if that grid parses, else an example."""
    text = f"{key}={','.join(dict.fromkeys(v for v in values if v))}"
    try:
        parse_grid([text])
    except NSTError:
        return _example(key)
    return f"--grid {text}"


def _unknown(key: str, spec: str, values: Sequence[str]) -> NSTError:
    """The refusal of a grid's unknown setting, with the setting meant where it can be told."""
    option = _options().get(key)
    if option:
        return NSTError(
            f"--grid {spec}: unknown setting {key} (the option --"
            f"{key.replace('_', '-')} sets {option}); write {suggest_grid(option, values)}."
        )
    near = difflib.get_close_matches(key, list(SETTINGS), 1, 0.6)
    if near:
        return NSTError(
            f"--grid {spec}: unknown setting {key}; did you mean {suggest_grid(near[0], values)}?"
        )
    return NSTError(
        f"--grid {spec}: unknown setting {key}; a grid's settings are "
        f"{', '.join(sorted(SETTINGS))}, such as {GRID_EXAMPLE}."
    )


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise NSTError(f"{what} must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise NSTError(f"{what} must be a finite number, not {text!r}")
    return value


def _read_value(name: str, text: str) -> Any:
    """One grid value for the setting ``name``, read as that setting's type; raise NSTError
    (without a full stop, to be continued) if it cannot be one."""
    s, low = SETTINGS[name], text.lower()
    kinds = s.kinds
    if s.choices is not None:
        for choice in s.choices:
            if (choice is None and low in ("none", "off")) or (
                choice is not None and low == str(choice).lower()
            ):
                return choice
        shown = ", ".join("none" if c is None else str(c) for c in s.choices)
        raise NSTError(f"{name} must be one of {shown}, not {text!r}")
    if type(None) in kinds and low == "none":
        return None
    if tuple in kinds:
        parts = [p.strip() for p in text.split("+")]
        if not all(parts):
            raise NSTError(
                f"{name}: {text!r} has an empty part (the parts of one value are joined with +)"
            )
        if name == "style_layer_weights":
            return tuple(_number(p, name) for p in parts)
        return tuple(parts)
    if bool in kinds:
        words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if low not in words:
            raise NSTError(f"{name} must be true or false, not {text!r}")
        return words[low]
    if float in kinds:
        return _number(text, name)
    if int in kinds:
        if str in kinds and low == "auto":
            return "auto"
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not value.is_integer():
            raise NSTError(f"{name} must be a whole number, not {text!r}")
        value = int(value)
        if name == "steps" and value < 1:
            raise NSTError(f"steps must be at least 1, not {value}")
        return value
    return text


def parse_grid(specs: Sequence[str]) -> list[dict]:
    """``["style_weight=1e-1,1e-2", "learning_rate=2,4"]`` as :func:`grid` runs (4 here).

    Each ``SETTING=V1,V2,...`` names a setting of :class:`~nst_helpers.config.StyleConfig`
    (``-`` may stand for ``_``) and its values, read as that setting's type: numbers, a choice,
    ``none``, ``true``/``false``; the layers of one value of a list setting are joined with ``+``
    (``style_layers=block1_conv1+block2_conv1,block3_conv1``). No values (``style_weight=``), an
    empty value (``1e-2,``), a value given twice, a setting given twice, an unknown setting and a
    value the setting cannot take are refused, naming the part and giving a grid that works.
    """
    axes: dict[str, tuple[list[Any], list[str]]] = {}
    given: dict[str, str] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not key:
            known = key if key in SETTINGS else "style_weight"
            raise NSTError(
                f"--grid {spec!r}: write SETTING=V1,V2,... (a setting, '=' and its "
                f"values), such as {_example(known)}."
            )
        parts = [v.strip() for v in values.split(",")]
        if key not in SETTINGS:
            raise _unknown(key, spec, parts)
        if not any(parts):
            raise NSTError(
                f"--grid {spec!r}: no values after '='; list them, such as {_example(key)}."
            )
        if not all(parts):
            raise NSTError(
                f"--grid {spec!r}: an empty value between commas; list each value "
                f"once, such as {_example(key)}."
            )
        if key in axes:
            raise NSTError(
                f"--grid gives {key} twice ({given[key]} and {spec}); list all its "
                f"values once, in one: {suggest_grid(key, axes[key][1] + parts)}."
            )
        read: list[Any] = []
        for text in parts:
            try:
                value = _read_value(key, text)
                SETTINGS[key].validate(SETTINGS[key].convert(value))
                if key == "backbone":
                    _check_backbone(value)
            except NSTError as err:
                raise NSTError(
                    f"--grid {spec}: {str(err).rstrip('.')}; such as {_example(key)}."
                ) from None
            if any(_same(value, v) for v in read):
                raise NSTError(f"--grid {spec}: {text} is listed twice; give each value once.")
            read.append(value)
        axes[key], given[key] = (read, parts), spec
    return grid(**{k: v for k, (v, _) in axes.items()}) if axes else [{}]


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or run_name({"x": a}) == run_name({"x": b})


_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")


def check_scheduler(address: str, timeout: float = 5.0) -> str:
    """Raise :class:`NSTError` now if ``address`` is not a Dask scheduler's address that answers.

    Checks, before Dask or TensorFlow is imported: the form (``tcp://HOST:PORT`` or
    ``HOST:PORT``; also tls, ws, wss, ucx), that Dask's ``distributed`` is installed, and that
    something listens at HOST:PORT (a TCP connection within ``timeout`` seconds).

    Returns:
        The address.

    Raises:
        NSTError: the address is malformed, nothing answers there, or ``distributed`` is missing.
    """
    example = "such as tcp://127.0.0.1:8786 (the address that dask scheduler prints)"
    text = str(address).strip()
    scheme, sep, rest = text.rpartition("://")
    scheme = scheme.lower() if sep else "tcp"
    if sep and scheme not in _SCHEMES:
        raise NSTError(
            f"--scheduler {address}: unknown protocol {scheme}://; write "
            f"tcp://HOST:PORT, {example}."
        )
    host, port = rest, ""
    if scheme != "inproc":
        host, colon, port = rest.rpartition(":")
        host = host.strip("[]")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            what = (
                "no port number"
                if not colon or not port
                else "no host"
                if not host
                else f"the port {port!r} is not a number from 1 to 65535"
            )
            raise NSTError(f"--scheduler {address}: {what}; write tcp://HOST:PORT, {example}.")
    if importlib.util.find_spec("distributed") is None:
        raise NSTError(
            '--scheduler needs Dask\'s distributed package: pip install "nst-helpers[dask]".'
        )
    if scheme in ("tcp", "tls", "ws", "wss"):
        try:
            socket.create_connection((host, int(port)), timeout=timeout).close()
        except OSError as err:
            reason = (
                "no answer"
                if isinstance(err, TimeoutError)
                else err.strerror or str(err) or type(err).__name__
            )
            raise NSTError(
                f"--scheduler {address}: no Dask scheduler answers there "
                f"({reason.lower()}); start one with dask scheduler, or check the "
                "address."
            ) from None
    return text


@contextlib.contextmanager
def executor_for(
    workers: int | None = None, scheduler: str | None = None
) -> Iterator[cf.Executor | None]:
    """The executor that ``nst sweep --workers N`` or ``--scheduler ADDRESS`` means (or None).

    A scheduler's address is checked first (:func:`check_scheduler`): a malformed or
    unreachable one raises :class:`NSTError`, as does a scheduler that does not answer as one.

    Args:
        workers: a pool of this many spawned processes (:func:`process_pool`).
        scheduler: a Dask scheduler's address; it wins over ``workers``.

    Yields:
        The executor, or None to run in this process; it is shut down on leaving.
    """
    if scheduler:
        check_scheduler(scheduler)
        import distributed  # noqa: PLC0415 - lazy: optional (the [dask] extra), 0.4 s to import

        try:
            client = distributed.Client(scheduler, timeout=30)
        except Exception as err:  # OSError, TimeoutError, ValueError, a comm error ...
            reason = str(err).strip().rstrip(".") or type(err).__name__
            raise NSTError(
                f"--scheduler {scheduler}: could not connect to a Dask scheduler "
                f"there ({reason}); check the address."
            ) from None
        with client:
            yield client.get_executor()
    elif workers:
        with process_pool(workers) as pool:
            yield pool
    else:
        yield None


def write_figures(result: SweepResult) -> list[pathlib.Path]:
    """Draw ``contact_sheet.png`` and ``losses.png`` into the sweep's folder (redrawn each time).

    Args:
        result: the sweep.

    Returns:
        The figures' paths (none while no run has finished).

    Raises:
        NSTError: a figure could not be drawn or written (the runs themselves are not touched).
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

    if not any(r.report is not None for r in result.runs):
        return []
    paths = []
    for name, draw in (("contact_sheet.png", contact_sheet), ("losses.png", loss_figure)):
        path = result.folder / name
        try:
            fig = draw(result)
            try:
                fig.savefig(path, dpi=100)
            finally:
                plt.close(fig)
        except (OSError, ValueError) as err:
            raise NSTError(
                f"{path}: could not be drawn ({getattr(err, 'strerror', None) or err}); "
                "the runs are kept."
            ) from None
        paths.append(path)
    return paths


def short_value(value: Any) -> str:
    """A setting's value as a run's name writes it: ``0.01``, ``block1_conv1+block2_conv1``."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return "+".join(short_value(v) for v in value)
    return str(value)


def run_name(settings: Mapping[str, Any]) -> str:
    """A folder name for one run's settings: ``learning_rate=4,style_weight=0.01``."""
    if not settings:
        return "base"
    text = ",".join(f"{k}={short_value(v)}" for k, v in sorted(settings.items()))
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
        """Whether the run finished or converged."""
        return self.report is not None and self.report.get("stop_reason") in _DONE

    def image(self, step: int | None = None) -> np.ndarray:
        """The run's best image, or its image at a snapshot ``step``, as uint8 RGB."""
        if self.folder is None:
            raise NSTError(f"run {self.name} has no folder; it failed: {self.error}")
        path = self.folder / ("result.png" if step is None else f"step_{int(step):05d}.png")
        if not path.exists():
            have = sorted(p.stem for p in self.folder.glob("step_*.png"))
            raise NSTError(
                f"{path} does not exist; this run has {', '.join(have) or 'no snapshots'}."
            )
        return load_image(path, max_side=None)


@dataclasses.dataclass
class SweepResult:
    """What :func:`run_sweep` did: one :class:`RunRecord` per run, in the order given."""

    folder: pathlib.Path
    runs: list[RunRecord]
    interrupted: bool = False  # Ctrl-C stopped the sweep; run it again to resume

    @property
    def failed(self) -> list[RunRecord]:
        """The runs that are not done."""
        return [r for r in self.runs if not r.done]

    def __repr__(self) -> str:
        done = sum(r.done for r in self.runs)
        skipped = sum(r.skipped for r in self.runs)
        return (
            f"SweepResult({self.folder}: {done}/{len(self.runs)} runs done, {skipped} of them "
            f"found done before, {len(self.failed)} not done"
            f"{', interrupted' if self.interrupted else ''})"
        )


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
    from .optimize import stylize  # TensorFlow: imported by the first run, not by the checks

    snaps = {}
    every = math.gcd(*task.snapshots) if task.snapshots else None
    wanted = set(task.snapshots)

    def callback(p):
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
    # Every term's history, not only the total: totals made with different weights cannot be
    # compared, each term divided by its weight can (a non-finite value is written as null).
    terms = {
        k: [float(x) if math.isfinite(x) else None for x in v]
        for k, v in result.history.items()
        if k != "total"
    }
    report.update(
        name=task.name,
        settings=task.settings,
        host=socket.gethostname(),
        pid=os.getpid(),
        wall_seconds=round(time.perf_counter() - t0, 3),
        snapshots=sorted(snaps),
        term_history=terms,
    )
    return {"image": result.image, "snapshots": snaps, "report": report, "config": result.config}


def _write_run(folder: pathlib.Path, out: dict) -> pathlib.Path:
    """Write one run's files into ``folder`` all at once (a temporary folder, then a rename)."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        meta = {
            "backbone": out["report"]["backbone"],
            "nst_config": out["report"]["config"],
            "best_loss": out["report"]["best_loss"],
            "steps": out["report"]["steps"],
        }
        save_image(out["image"], tmp / "result.png", metadata=meta)
        for step, img in out["snapshots"].items():
            save_image(img, tmp / f"step_{step:05d}.png")
        (tmp / "report.json").write_text(json.dumps(out["report"], indent=1, allow_nan=False))
        if folder.is_dir() and not folder.is_symlink():  # an earlier interrupted or failed attempt
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _read_report(folder: pathlib.Path) -> dict | None:
    try:
        report = json.loads((folder / "report.json").read_text())
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def _header(base: StyleConfig, content: np.ndarray, style: np.ndarray) -> dict:
    header = {
        "config": base.to_dict(),
        "content": _fingerprint(content),
        "style": _fingerprint(style),
        "content_shape": list(content.shape),
        "style_shape": list(style.shape),
    }
    return json.loads(json.dumps(header))  # tuples as lists, as read back


def _check_out(out: pathlib.Path) -> dict | None:
    """Check, writing nothing, that ``out`` can hold this sweep: a new folder that can be made, an
    empty folder, or an earlier sweep's (its ``sweep.json`` header is returned, else None)."""
    if out.is_symlink() and not out.exists():
        raise NSTError(
            f"{out}: is a link to nothing; give a new or empty folder, or an earlier sweep's."
        )
    if out.exists() and not out.is_dir():
        raise NSTError(
            f"{out}: is a file, not a folder; give a new or empty folder, or an earlier sweep's."
        )
    check_folder(out)  # the nearest existing folder is a folder that this process can write in
    if not out.is_dir():
        return None
    path = out / "sweep.json"
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            why = "not valid JSON" if isinstance(err, ValueError) else err.strerror or str(err)
            raise NSTError(
                f"{path}: cannot be read ({why}), so the sweep in {out} cannot be "
                "checked; move it away to start the sweep there again, or choose "
                "another folder."
            ) from None
        if not isinstance(old, dict):
            raise NSTError(
                f"{path}: is not a sweep's record (no settings in it); move it away "
                "or choose another folder."
            )
        return old
    try:
        mine = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    except OSError as err:
        raise NSTError(f"{out}: cannot be read ({err.strerror or err}).") from None
    if mine:
        raise NSTError(
            f"{out}: is not empty ({mine[0]}{' and more' if len(mine) > 1 else ''}) "
            "and holds no sweep.json; choose an empty or new folder."
        )
    return None


def _same_sweep(out: pathlib.Path, old: dict, header: dict) -> None:
    """Refuse to resume ``out`` when the sweep it holds was made with other images or preset."""
    differ = [k for k in header if old.get(k) != header[k]]
    if differ:
        raise NSTError(
            f"{out} holds a sweep with a different {', '.join(differ)}; resume it with the same "
            "images and preset, or choose another folder."
        )


def _open_folder(out: pathlib.Path, header: dict) -> None:
    """Make ``out`` and write its ``sweep.json``, or check that it holds this sweep."""
    old = _check_out(out)
    if old is not None:
        _same_sweep(out, old, header)
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.json").write_text(json.dumps(header, indent=1))
    except OSError as err:
        raise NSTError(
            f"{out}: cannot be written ({err.strerror or err}); choose another folder."
        ) from None


def _check_backbone(spec: Any) -> str:
    """A backbone's name, checked as :func:`nst_helpers.backbone.load_backbone` reads it."""
    spec = str(spec)
    if not (
        spec in BACKBONES
        or spec.startswith("random:")
        or spec.endswith(".h5")
        or os.sep in spec
        or pathlib.Path(spec).expanduser().exists()
    ):
        raise NSTError(
            f"unknown backbone {spec!r}; choose one of {', '.join(BACKBONES)}, "
            "'random:SEED' or a path to a VGG19 weights file."
        )
    if spec.startswith("random:") and not spec.partition(":")[2].isdigit():
        raise NSTError(f"backbone {spec!r}: the seed after 'random:' must be a whole number.")
    return spec


def _check_run(cfg: StyleConfig) -> None:
    """The steps, the backbone's name and the layers, checked without loading anything (a weights
    file is looked for by the process that runs, which may be a cluster's worker)."""
    if cfg.steps < 1:
        raise NSTError(f"steps must be at least 1, not {cfg.steps}.")
    spec = _check_backbone(cfg.backbone)
    depth = 16 if spec == "vgg16-hed" else 19
    bad = [n for n in (*cfg.content_layers, *cfg.style_layers) if n not in vgg_layer_names(depth)]
    if bad:
        raise NSTError(
            f"unknown layer{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} "
            f"for backbone {spec}; valid names: {', '.join(vgg_layer_names(depth))}."
        )


def _plan(runs: Iterable[Mapping[str, Any]], base: StyleConfig) -> list:
    """``[(name, settings, config)]``, every settings dict validated before anything runs."""
    plan: list[tuple[str, dict, StyleConfig]] = []
    seen: dict[str, dict] = {}
    _check_run(base)
    for settings in runs:
        if not isinstance(settings, Mapping):
            raise NSTError(f"each run must be a dict of settings, not {settings!r}.")
        settings = dict(settings)
        name = run_name(settings)
        try:
            cfg = base.replace(**settings)
            _check_run(cfg)
        except NSTError as err:
            if not settings:
                raise
            raise NSTError(f"the run {name}: {err}") from None
        if name in seen:
            same = seen[name] == settings
            raise NSTError(
                f"the run {name} is listed twice; give each run once."
                if same
                else f"the runs {seen[name]} and {settings} would share the folder {name}; "
                "give values that differ in their first six digits."
            )
        seen[name] = settings
        plan.append((name, json.loads(json.dumps(settings)), cfg))
    return plan


def _check_snapshots(snapshots: Iterable[int], plan: Sequence = ()) -> tuple:
    snapshots = list(snapshots)
    snaps = tuple(sorted(set(snapshots)))
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in snaps):
        raise NSTError(f"snapshots must be whole step numbers >= 1, not {snapshots!r}.")
    for name, _, cfg in plan:
        late = [s for s in snaps if s > cfg.steps]
        if late:
            raise NSTError(
                f"snapshot step {', '.join(map(str, late))} comes after the last step of "
                f"the run {name} ({cfg.steps} steps); give snapshot steps up to "
                f"{cfg.steps}."
            )
    return snaps


def _image_problem(path: pathlib.Path) -> str:
    """Why ``path`` is not a whole image ("" if it is one)."""
    if not path.is_file():
        return f"{path} is missing"
    try:
        with Image.open(path) as img:
            img.load()
    except Exception as err:  # truncated, not an image, unreadable: PIL raises several kinds
        return f"{path} is damaged ({str(err).strip().rstrip('.') or type(err).__name__})"
    return ""


#: What a finished run's report must hold for the sweep's figures and summaries.
_REPORT_KEYS = ("stop_reason", "settings", "best_loss", "steps", "backbone", "loss_history")


def _state(folder: pathlib.Path, settings: dict) -> tuple[str, str, dict | None]:
    """``(state, why, report)`` of one run's folder: ``("new", "", None)``, ``("done", "",
    report)``, ``("again", why, report)`` (stopped before: its folder is replaced), or
    ``("damaged", why, None)`` (its files are moved aside, then it runs again)."""
    if not folder.exists() and not folder.is_symlink():
        return "new", "", None
    if not folder.is_dir():
        raise NSTError(
            f"{folder}: is a file where this sweep keeps the run {folder.name}; move it away."
        )
    path = folder / "report.json"
    if not path.is_file():
        return "damaged", f"{path} is missing", None
    report = _read_report(folder)
    if report is None:
        return "damaged", f"{path} is damaged (not valid JSON)", None
    missing = [k for k in _REPORT_KEYS if k not in report]
    if missing:
        return "damaged", f"{path} lacks {', '.join(missing)}", None
    if report["settings"] != settings:
        raise NSTError(
            f"{folder} holds a run with other settings ({report['settings']}); move it away."
        )
    if report["stop_reason"] not in _DONE:
        return "again", f"it stopped before ({report['stop_reason']})", report
    images = ["result.png"] + [f"step_{int(s):05d}.png" for s in report.get("snapshots") or ()]
    for image in images:
        problem = _image_problem(folder / image)
        if problem:
            return "damaged", problem, None
    return "done", "", report


def _side(plan: Sequence, base: StyleConfig) -> Any:
    """The longest side to load the images at: the preset's, or the largest a run asks for."""
    sides = {cfg.max_side for _, _, cfg in plan}
    if len(sides) <= 1:
        return base.max_side
    if None in sides:
        return None
    return max(default_max_side() if s == "auto" else s for s in sides)


@dataclasses.dataclass
class SweepPlan:
    """A sweep checked and ready to run (:func:`plan_sweep`): nothing was written yet."""

    folder: pathlib.Path
    header: dict
    runs: list  # [(name, settings, StyleConfig)]
    states: list  # [(state, why, report)], as _state gives them
    content: np.ndarray
    style: np.ndarray
    snapshots: tuple

    @property
    def todo(self) -> list:
        """The names of the runs that will run."""
        return [run[0] for run, state in zip(self.runs, self.states) if state[0] != "done"]


def plan_sweep(
    content: Any,
    style: Any,
    runs: Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    config: str | StyleConfig = "fast",
    *,
    snapshots: Iterable[int] = (),
    **changes: Any,
) -> SweepPlan:
    """Check a sweep before it runs, writing nothing; :func:`run_plan` runs it.

    Every run's settings, the backbone's name and the layers, the snapshots, the folder (a new
    one that can be made, an empty one, or an earlier sweep of the same images and preset) and
    the images are checked, and each earlier run's folder is read: done, to run again (stopped
    before), or damaged (a missing or unreadable image or report: run again). Raises
    :class:`NSTError` with a one-line reason. See :func:`run_sweep` for the arguments.
    """
    base = preset(config, **changes)
    plan = _plan(runs, base)
    snaps = _check_snapshots(snapshots, plan)
    out = pathlib.Path(out_dir).expanduser()
    old = _check_out(out)
    for source, role in ((content, "content image"), (style, "style image")):
        if isinstance(source, (str, os.PathLike)):  # a file's faults said before TensorFlow
            load_image(source, max_side=None, name=role)
    side = _side(plan, base)
    c_img = load_image(content, max_side=side, name="content image")
    s_img = load_image(style, max_side=side, name="style image")
    header = _header(base, c_img, s_img)
    if old is not None:
        _same_sweep(out, old, header)
    states = [_state(out / name, settings) for name, settings, _ in plan]
    return SweepPlan(out, header, plan, states, c_img, s_img, snaps)


def _set_aside(folder: pathlib.Path) -> pathlib.Path:
    """Move a damaged run's folder to ``OUT/.damaged/NAME`` (``NAME-2`` … if taken)."""
    place = folder.parent / ".damaged"
    try:
        place.mkdir(exist_ok=True)
        aside, n = place / folder.name, 1
        while aside.exists():
            n += 1
            aside = place / f"{folder.name}-{n}"
        folder.rename(aside)
    except OSError as err:
        raise NSTError(
            f"{folder}: its run must run again, but its files cannot be moved aside "
            f"({err.strerror or err}); move them away yourself."
        ) from None
    return aside


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
    out = plan.folder
    _open_folder(out, plan.header)
    records, pending = [], []
    for (name, settings, cfg), (state, why, report) in zip(plan.runs, plan.states):
        rec = RunRecord(name, settings)
        if state == "done":
            rec.folder, rec.report, rec.skipped = out / name, report, True
        else:
            if state == "damaged":
                aside = _set_aside(out / name)
                print(
                    f"{name}: {why}; running it again (its files are kept in {aside}).",
                    file=sys.stderr,
                    flush=True,
                )
            elif state == "again" and verbose:
                print(f"{name}: {why}; running it again.")
            pending.append(
                (
                    rec,
                    _Task(
                        name,
                        settings,
                        cfg.to_dict(),
                        plan.content,
                        plan.style,
                        plan.snapshots,
                        callback,
                    ),
                )
            )
        records.append(rec)
    if verbose:
        print(
            f"Sweep in {out}: {len(plan.runs)} runs, {len(plan.runs) - len(pending)} already "
            f"done, {len(pending)} to run"
            + (f" on {type(executor).__name__}" if executor else "")
            + ".",
            flush=True,
        )
    interrupted = _execute(pending, executor, out, on_result, verbose)
    result = SweepResult(out, records, interrupted)
    if verbose and (interrupted or result.failed):
        n = len(plan.runs)
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
    try:
        rec.folder = _write_run(out / rec.name, data)
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


def _execute(
    pending: list,
    executor: cf.Executor | None,
    out: pathlib.Path,
    on_result: Callable | None,
    verbose: bool,
) -> bool:
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
            records.append(
                RunRecord(
                    report.get("name", folder.name), report.get("settings", {}), folder, report
                )
            )
    return records


def _records(source: Any) -> list:
    if isinstance(source, SweepResult):
        return [r for r in source.runs if r.report is not None]
    if isinstance(source, (str, os.PathLike)):
        return load_sweep(source)
    return list(source)


def contact_sheet(
    source: Any, step: int | None = None, cols: int | None = None, size: float = 3.0
) -> Figure:
    """A figure of every run's image (best, or at snapshot ``step``), titled with its settings.

    Args:
        source: a sweep folder, a :class:`SweepResult` or a list of :class:`RunRecord`.
        step: a snapshot step, or None for each run's best image.
        cols: panels per row (default: up to 4).
        size: inches per panel.

    Returns:
        The matplotlib figure.

    Raises:
        NSTError: no run has finished.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

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
        loss = "none" if r.get("best_loss") is None else f"{r['best_loss']:.3g}"
        ax.set_title(f"{rec.name.replace(',', chr(10))}\nloss {loss}", fontsize=8)
    backbones = sorted({r.report["backbone"] for r in recs})
    fig.suptitle(
        f"{'best images' if step is None else f'step {step}'}; network: {', '.join(backbones)}",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def loss_figure(source: Any, ax: Axes | None = None, log: bool = True) -> Figure:
    """Every run's total loss against steps, on one axis (log scale).

    Args:
        source: a sweep folder, a :class:`SweepResult` or a list of :class:`RunRecord`.
        ax: the axes to draw on (default: a new figure's).
        log: whether the loss axis is logarithmic.

    Returns:
        The figure of ``ax``.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

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
    return cast("Figure", ax.figure)  # the axes of a figure (subfigures are not drawn here)
