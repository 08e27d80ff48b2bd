"""Grading one submission, in a worker: its answers run in a sandboxed kernel that only collects
what the student's functions return; the verdicts are computed here, by the grader."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import pathlib
import secrets
import shutil
import subprocess
import tempfile
import time
from typing import Any, Callable, Iterable

from .common import FAILED, NOT_ATTEMPTED, NOT_WRITTEN, PASSED, ROOT, RUN_FAILED, one_line
from .notebook import build_notebook
from .sandbox import (
    become_subreaper,
    copy_package,
    copy_weights,
    descendants,
    end_processes,
    kernel_manager_class,
    launcher,
)
from .submissions import exercises

__all__ = ["Job", "package_files", "digest_files", "grade_notebook", "short_path"]


@dataclasses.dataclass(frozen=True)
class Job:
    """Everything a worker needs to grade one notebook: plain data, so any executor ships it."""

    student: str
    notebook: str
    text: str
    course_nb: dict
    timeout: float
    sandbox: str = "bwrap"
    watch: tuple[str, ...] = ()


def package_files() -> list[pathlib.Path]:
    """The grader's own files that decide a verdict and that a kernel without a sandbox could
    reach: the checks' modules and their reference values. (The rest of the checkout is not
    watched: it may be edited while a class is graded; a kernel's private copy of the package is
    watched on its own.)

    Returns:
        Their paths, sorted.
    """
    # the checks' package: its reference values, loaded only where a class is graded
    from .. import checks

    pkg = pathlib.Path(__file__).resolve().parents[1]
    return sorted([*(pkg / "checks").rglob("*.py"), *checks.data_dir().glob("*.npz")])


def digest_files(paths: Iterable[str | os.PathLike]) -> dict[str, str]:
    """The SHA-256 of each file, to tell later whether it changed.

    Args:
        paths: the files.

    Returns:
        ``{path: hex digest}``; ``"unreadable"`` for a file that cannot be read (or is gone).
    """
    out: dict[str, str] = {}
    for p in paths:
        try:
            out[str(p)] = hashlib.sha256(pathlib.Path(p).read_bytes()).hexdigest()
        except OSError:
            out[str(p)] = "unreadable"
    return out


def _digests(folder: pathlib.Path) -> dict[str, str]:
    """The SHA-256 of each file under ``folder``, by its path relative to it."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _fingerprint(watched: list[str | os.PathLike], pkg: pathlib.Path) -> dict[str, str]:
    """The digests of the watched files and of the kernel's copy of the package (``pkg/...``)."""
    return digest_files(watched) | {f"pkg/{k}": v for k, v in _digests(pkg).items()}


def _client_class() -> type:
    """nbclient's runner, keeping no output of the kernel's: the verdicts are the grader's, and a
    notebook that prints gigabytes must not fill the grader's memory."""
    # nbclient: the [grade] extra, imported only where a notebook is graded
    from nbclient import NotebookClient

    class QuietClient(NotebookClient):
        def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> None:
            return None

    return QuietClient


def _load_modules() -> None:
    """Import what grading one notebook uses, before its clock starts and before any folder is
    made: a worker without the [grade] extra fails here, at once."""
    for name in ("nbformat", "numpy", "nbclient.exceptions", "nst_helpers.checks.record"):
        importlib.import_module(name)


@dataclasses.dataclass(frozen=True)
class _Folders:
    """The folders of one grading, in a private temporary folder (mode 0700): the sandbox's root
    ``box`` (the kernel's home, working folder, ``/tmp``, the exchange folder ``io`` and the
    kernel's sockets ``ipc``) and, outside it, ``pkg``, the kernel's copy of the package."""

    box: pathlib.Path
    pkg: pathlib.Path
    home: pathlib.Path
    work: pathlib.Path
    tmp: pathlib.Path
    io: pathlib.Path
    ipc: pathlib.Path

    @classmethod
    def make(cls, root: pathlib.Path) -> _Folders:
        """Make the folders under ``root``; return them."""
        box = root / "box"
        folders = cls(box, root / "pkg", *(box / n for n in ("home", "work", "tmp", "io", "ipc")))
        for d in (folders.home, folders.work, folders.tmp, folders.io, folders.ipc, folders.pkg):
            d.mkdir(parents=True)
        return folders


def _draw_references(verdicts: dict, io_dir: pathlib.Path) -> dict:
    """Draw each check's inputs and expected values from a secret seed, and write the inputs
    (only) to the exchange folder, one file per call of a check; return ``{check: reference}``."""
    # NumPy and the checks' recorder (the reference code): imported only where a notebook is graded
    import numpy as np

    from ..checks import record  # (as above)

    seed = [secrets.randbits(32) for _ in range(4)]  # never leaves this process
    references = {}
    for _, calls in verdicts.values():
        for key, check, _, _ in calls:
            if check not in references:
                references[check] = record.fresh_reference(check, seed)
            # numpy's stub: mypy matches **arrays against savez's allow_pickle: bool too
            np.savez(io_dir / f"{key}.inputs.npz", **record.inputs_only(references[check]))  # type: ignore[arg-type]
    return references


def _kernel_env(folders: _Folders, marker: str) -> dict[str, str]:
    """The kernel's environment: the grader's, less Python's, Jupyter's, the course's and
    Matplotlib's settings, with its own home, ``/tmp``, copy of the package and weights."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "JUPYTER", "IPYTHON", "NST_", "KERAS_HOME", "MPL"))
    }
    env.update(
        copy_weights(folders.home),
        HOME=str(folders.home),
        TMPDIR=str(folders.tmp),
        PYTHONPATH=str(folders.pkg),
        CI="true",
        MPLBACKEND="Agg",
        PYTHONDONTWRITEBYTECODE="1",
        MPLCONFIGDIR=str(folders.home / ".matplotlib"),
        IPYTHONDIR=str(folders.home / ".ipython"),
        JUPYTER_RUNTIME_DIR=str(folders.ipc),
        NST_GRADE_RUN=marker,
    )
    return env


def _time_limit(timeout: float) -> Callable[[object], int]:
    """nbclient's ``timeout_func``: seconds left of ``timeout``, counted from the first cell."""
    deadline: list[float] = []

    def limit(cell: object) -> int:
        if not deadline:
            deadline.append(time.monotonic() + timeout)
        return max(1, int(deadline[0] - time.monotonic() + 0.999))

    return limit


def _run_kernel(
    job: Job, nb: dict, env: dict[str, str], prefix: list[str], folders: _Folders, result: dict
) -> tuple[Any, str | None]:
    """Run ``nb`` in a fresh kernel started by ``prefix`` (the sandbox), its output unread.

    Returns:
        The notebook as run (its cells' execution counts say how far it got) and why it stopped
        early (None if it ran to its end). A run the grader could not carry out is also noted as
        ``result["grader_error"]``: the grader's trouble, not the student's.
    """
    # nbformat and nbclient: the [grade] extra, imported only where a notebook is graded
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    node = nbformat.from_dict(nb)
    client = _client_class()(
        node,
        kernel_name="python3",
        allow_errors=True,
        timeout_func=_time_limit(job.timeout),
        startup_timeout=180,
        record_timing=False,
        kernel_manager_class=kernel_manager_class(prefix, folders.ipc),
        resources={"metadata": {"path": str(folders.work)}},
    )
    try:
        client.execute(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except CellTimeoutError:
        return node, f"stopped at its {job.timeout:g} s time limit"
    except DeadKernelError:
        return node, "its kernel died (the notebook crashed or ended Python)"
    except Exception as err:  # noqa: BLE001 - a kernel that would not start, a broken message
        stopped = f"{RUN_FAILED} ({type(err).__name__}: {one_line(err)[:200]})"
        result["grader_error"] = stopped
        return node, stopped
    return node, None


def _status(verdict: list[str]) -> list[str]:
    """An exercise's ``[status, detail]`` in the table from its test cell's verdict."""
    if verdict[0] == PASSED:
        return [PASSED, ""]
    if verdict[0] == FAILED and NOT_WRITTEN in verdict[1]:
        return [NOT_ATTEMPTED, ""]
    detail = one_line(verdict[1])
    if verdict[0] == "error" and detail.startswith("NameError"):
        detail += " (did the exercise's cell run without an error?)"
    return [FAILED, detail]


def _judge_all(
    result: dict,
    verdicts: dict,
    references: dict,
    io_dir: pathlib.Path,
    ran: list[int],
    stopped: str | None,
) -> None:
    """Judge each test cell from what the kernel recorded; put the statuses in ``result``."""
    for gid, (index, calls) in verdicts.items():
        verdict = _judge_cell(calls, references, io_dir)
        if verdict is None:
            where = "while its check ran" if ran and index <= max(ran) else "before its check"
            result["results"][gid] = [FAILED, f"{stopped or 'the check did not run'} {where}"]
        else:
            result["results"][gid] = _status(verdict)


def _note_run(
    result: dict, stopped: str | None, ran: list[int], n_cells: int, left: int, sandbox: str
) -> None:
    """Note in ``result`` where a run stopped early, and processes it left running (no sandbox)."""
    if stopped:
        result["notes"].append(f"{stopped} (cell {max(ran, default=0) + 1} of {n_cells})")
    if left and sandbox != "bwrap":
        result["notes"].append(
            f"left {left} process{'es' if left != 1 else ''} running after "
            "it ended (ended by the grader)"
        )


def _refuse_if_changed(
    result: dict, ids: list[str], trusted: dict[str, str], now: dict[str, str]
) -> None:
    """No points, and a note, when a file outside the sandbox changed while the kernel ran."""
    changed = sorted(k for k in trusted.keys() | now.keys() if trusted.get(k) != now.get(k))
    if changed:
        names = ", ".join(short_path(k) for k in changed[:3]) + (
            ", ..." if len(changed) > 3 else ""
        )
        result["notes"].append(f"changed files outside its sandbox ({names}): no points")
        result["results"] = {
            g: [FAILED, "the notebook changed files outside its sandbox"] for g in ids
        }


def _grade_in_sandbox(
    job: Job,
    submission: dict,
    root: pathlib.Path,
    marker: str,
    before: set[int],
    result: dict,
    ids: list[str],
) -> None:
    """Build the notebook, run it in the sandbox, end what it started, then judge what it
    collected and check the watched files; the statuses and notes go in ``result``."""
    folders = _Folders.make(root)
    copy_package(folders.pkg)
    nb, verdicts, notes = build_notebook(job.course_nb, submission, str(folders.io))
    result["notes"] += notes
    references = _draw_references(verdicts, folders.io)
    watched: list[str | os.PathLike] = [*package_files(), *job.watch]
    trusted = _fingerprint(watched, folders.pkg)
    env = _kernel_env(folders, marker)
    prefix = launcher(job.sandbox, [str(folders.pkg)], [str(folders.box)], job.timeout)
    node, stopped = _run_kernel(job, nb, env, prefix, folders, result)
    left = end_processes(marker, before)  # before anything it wrote is read
    ran = [i for i, c in enumerate(node.cells) if c.get("execution_count") is not None]
    _judge_all(result, verdicts, references, folders.io, ran, stopped)
    _note_run(result, stopped, ran, len(node.cells), left, job.sandbox)
    _refuse_if_changed(result, ids, trusted, _fingerprint(watched, folders.pkg))


def grade_notebook(job: Job) -> dict:
    """Grade one submission: its answers run in a sandboxed kernel, the verdicts are computed here.

    Args:
        job: the submission's text, the course's notebook, the time limit and the sandbox.

    Returns:
        ``{"student", "notebook", "results": {grade_id: [status, detail]}, "notes": [...],
        "seconds"}``.
    """
    _load_modules()
    start = time.monotonic()
    ids = [e.grade_id for e in exercises(job.course_nb, job.notebook)]
    result: dict[str, Any] = {
        "student": job.student,
        "notebook": job.notebook,
        "notes": [],
        "results": {g: [FAILED, "not graded"] for g in ids},
    }
    try:
        submission = json.loads(job.text)
    except ValueError as err:
        result["notes"].append(f"not a notebook ({one_line(err)})")
        result["results"] = {g: [NOT_ATTEMPTED, ""] for g in ids}
        return result
    if job.sandbox != "bwrap":  # bubblewrap's PID namespace holds what the kernel starts
        become_subreaper()
    root = pathlib.Path(tempfile.mkdtemp(prefix="nst-grade-"))  # mode 0700: the grader's own
    marker = secrets.token_hex(8)
    before = descendants()
    try:
        _grade_in_sandbox(job, submission, root, marker, before, result, ids)
    finally:
        try:
            end_processes(marker, before)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


def short_path(path: str) -> str:
    """A changed file as the notes name it: relative to the package or the checkout if within.

    Args:
        path: the file.

    Returns:
        Its path relative to the checkout if it lies there, else its name (a relative path as is).
    """
    p = pathlib.Path(path)
    for base in (ROOT,):
        if p.is_absolute() and p.is_relative_to(base):
            return str(p.relative_to(base))
    return path if not p.is_absolute() else p.name


def _judge_cell(calls: list, references: dict, io_dir: pathlib.Path) -> list[str] | None:
    """The verdict of one test cell, judged here from what its kernel recorded: ``[status,
    detail]``, the first check that does not pass deciding; None if nothing came back."""
    # the checks' recorder: NumPy and the reference code, imported only where a notebook is graded
    from ..checks import record

    for key, check, fn, options in calls:
        try:
            status, detail = record.judge(
                check, options, references[check], record.read_records(io_dir, key), fn
            )
        except record.Malformed as err:
            return [FAILED, f"what the kernel sent back is malformed ({err}); no points"]
        if status == "missing":
            return None
        if status != PASSED:
            return [status, detail]
    return [PASSED, ""]
