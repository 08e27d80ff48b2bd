"""Grading one submission, in a worker: its answers run in a sandboxed kernel that only collects
what the student's functions return; the verdicts are computed here, by the grader."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import secrets
import shutil
import subprocess
import tempfile
import time
from typing import Any, Iterable

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
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _client_class() -> type:
    """nbclient's runner, keeping no output of the kernel's: the verdicts are the grader's, and a
    notebook that prints gigabytes must not fill the grader's memory."""
    from nbclient import NotebookClient

    class QuietClient(NotebookClient):
        def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> None:
            return None

    return QuietClient


def grade_notebook(job: Job) -> dict:
    """Grade one submission: its answers run in a sandboxed kernel, the verdicts are computed here.

    Args:
        job: the submission's text, the course's notebook, the time limit and the sandbox.

    Returns:
        ``{"student", "notebook", "results": {grade_id: [status, detail]}, "notes": [...],
        "seconds"}``.
    """
    import nbformat
    import numpy as np
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from ..checks import record

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
        box, pkg = root / "box", root / "pkg"
        home, work, tmp, io_dir, ipc = (box / n for n in ("home", "work", "tmp", "io", "ipc"))
        for d in (home, work, tmp, io_dir, ipc, pkg):
            d.mkdir(parents=True)
        copy_package(pkg)
        nb, verdicts, notes = build_notebook(job.course_nb, submission, str(io_dir))
        result["notes"] += notes
        seed = [secrets.randbits(32) for _ in range(4)]  # never leaves this process
        references = {}
        for _, calls in verdicts.values():
            for key, check, _, _ in calls:
                if check not in references:
                    references[check] = record.fresh_reference(check, seed)
                # numpy's stub: mypy matches **arrays against savez's allow_pickle: bool too
                np.savez(io_dir / f"{key}.inputs.npz", **record.inputs_only(references[check]))  # type: ignore[arg-type]
        watched: list[str | os.PathLike] = [*package_files(), *job.watch]
        trusted = digest_files(watched) | {f"pkg/{k}": v for k, v in _digests(pkg).items()}
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "JUPYTER", "IPYTHON", "NST_", "KERAS_HOME", "MPL"))
        }
        env.update(
            copy_weights(home),
            HOME=str(home),
            TMPDIR=str(tmp),
            PYTHONPATH=str(pkg),
            CI="true",
            MPLBACKEND="Agg",
            PYTHONDONTWRITEBYTECODE="1",
            MPLCONFIGDIR=str(home / ".matplotlib"),
            IPYTHONDIR=str(home / ".ipython"),
            JUPYTER_RUNTIME_DIR=str(ipc),
            NST_GRADE_RUN=marker,
        )
        prefix = launcher(job.sandbox, [str(pkg)], [str(box)], job.timeout)
        deadline: list[float] = []

        def limit(cell: object) -> int:
            if not deadline:
                deadline.append(time.monotonic() + job.timeout)
            return max(1, int(deadline[0] - time.monotonic() + 0.999))

        node = nbformat.from_dict(nb)
        client = _client_class()(
            node,
            kernel_name="python3",
            allow_errors=True,
            timeout_func=limit,
            startup_timeout=180,
            record_timing=False,
            kernel_manager_class=kernel_manager_class(prefix, ipc),
            resources={"metadata": {"path": str(work)}},
        )
        stopped: str | None = None
        try:
            client.execute(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except CellTimeoutError:
            stopped = f"stopped at its {job.timeout:g} s time limit"
        except DeadKernelError:
            stopped = "its kernel died (the notebook crashed or ended Python)"
        except Exception as err:  # noqa: BLE001 - a kernel that would not start, a broken message
            stopped = f"{RUN_FAILED} ({type(err).__name__}: {one_line(err)[:200]})"
            result["grader_error"] = stopped  # the grader's trouble, not the student's
        left = end_processes(marker, before)
        ran = [i for i, c in enumerate(node.cells) if c.get("execution_count") is not None]
        for gid, (index, calls) in verdicts.items():
            verdict = _judge_cell(calls, references, io_dir)
            if verdict is None:
                where = "while its check ran" if ran and index <= max(ran) else "before its check"
                result["results"][gid] = [FAILED, f"{stopped or 'the check did not run'} {where}"]
            elif verdict[0] == PASSED:
                result["results"][gid] = [PASSED, ""]
            elif verdict[0] == FAILED and NOT_WRITTEN in verdict[1]:
                result["results"][gid] = [NOT_ATTEMPTED, ""]
            else:
                detail = one_line(verdict[1])
                if verdict[0] == "error" and detail.startswith("NameError"):
                    detail += " (did the exercise's cell run without an error?)"
                result["results"][gid] = [FAILED, detail]
        if stopped:
            result["notes"].append(
                f"{stopped} (cell {max(ran, default=0) + 1} of {len(node.cells)})"
            )
        if left and job.sandbox != "bwrap":
            result["notes"].append(
                f"left {left} process{'es' if left != 1 else ''} running after "
                "it ended (ended by the grader)"
            )
        now = digest_files(watched) | {f"pkg/{k}": v for k, v in _digests(pkg).items()}
        changed = sorted(k for k in trusted.keys() | now.keys() if trusted.get(k) != now.get(k))
        if changed:
            names = ", ".join(short_path(k) for k in changed[:3]) + (
                ", ..." if len(changed) > 3 else ""
            )
            result["notes"].append(f"changed files outside its sandbox ({names}): no points")
            result["results"] = {
                g: [FAILED, "the notebook changed files outside its sandbox"] for g in ids
            }
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
