"""Grading a class's notebooks: ``nst grade SUBMISSIONS... --out grades.csv``.

Each submitted notebook is graded against the course's own student version (``notebooks/student/``
of a checkout, or ``--course DIR``), never against what the submission says about itself:

1. The submission is matched to a course notebook by its name (``03_content_loss.ipynb``,
   ``alice_03_content_loss.ipynb``) or, failing that, by the nbgrader ids of its cells. The student
   is named by what precedes the notebook's name in the file name, else by the folder holding it
   (``alice/03_content_loss.ipynb``; nbgrader's ``submitted/alice/ASSIGNMENT/NOTEBOOK.ipynb``).
2. A notebook is built from the course's cells with the submission's *answer cells* put in (matched
   by nbgrader id, then cell id, then first line). Every other cell is the course's: a changed or
   added cell of the submission never runs. Each autograded test cell is replaced by a cell that
   only *collects*: it calls the student's functions on inputs drawn for this grading from a seed
   the kernel never sees, and writes what they returned (arrays and plain JSON) to an exchange
   folder (:mod:`nst_helpers.checks.record`). Cells after the last test cell are not run.
3. That notebook runs in a fresh kernel inside a sandbox (bubblewrap: a new root with the system's
   and Python's folders read-only, a read-only copy of the package, a private ``/tmp``, its own PID
   namespace, no network, no capabilities; limits on memory, CPU time, processes and file size),
   with a temporary home and working folder, within a time limit for the whole notebook. The
   kernel's printed output is never read. Whatever it started is ended with it.
4. The grader reads back what the kernel collected as hostile data (size limits, ``allow_pickle=
   False``), computes the expected values itself with the package's reference implementations on
   the same inputs, and runs the checks' own judging code on them: the verdicts and hints are the
   grader's. A submission that changed a file outside its sandbox gets no points, and says so.
5. One row per student, one column per exercise (``passed``, ``failed: <the check's message>`` or
   ``not attempted``), the points, the points possible and notes; the CSV is written at the end,
   atomically. A browser's second download (``alice_01_convolutions (1).ipynb``) is the same
   student's: the newest copy counts, and the notes say so.

Where bubblewrap cannot run (not installed, or a host that forbids namespaces, as Colab and some
hubs may), each kernel runs with the same limits in a process session of its own, and the grader
prints a warning: the filesystem, the network and other processes are then within its reach.
See ``docs/grading.md``.

Grading needs the ``[grade]`` extra (``pip install "nst-helpers[grade]"``): :func:`check_installed`
names a missing package before any submission is read. A run in which no notebook could be graded
(the grader's trouble, not the students') writes no table of zeros: it raises instead.

Grading runs on any :class:`concurrent.futures.Executor`: a pool of spawned processes by default
(``jobs``), or a Dask cluster's ``client.get_executor()`` (:func:`nst_helpers.sweep.executor_for`).
Jobs carry the submission's text and the course's notebook, and return plain dicts.

.. note:: What stays in the kernel's hands: whether a gradient flows through the student's
   function and whether it changed its inputs are observed there and reported as data, so a
   notebook written to attack the grader can claim them; it cannot claim a right answer without
   computing it.

The parts: :mod:`.submissions` (the course, and whose each submitted file is),
:mod:`.notebook` (the notebook a kernel runs), :mod:`.sandbox` (bubblewrap and the limits),
:mod:`.runner` (one submission, in a worker), :mod:`.table` (the rows and the CSV) and
:mod:`.command` (``nst grade``); :func:`grade` grades a class with them.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import pathlib
import sys
from typing import Any, Sequence

from ..errors import NSTError
from .common import (
    DEFAULT_TIMEOUT,
    EXTRA_MODULES,
    FAILED,
    GRADER_FAILED,
    INSTALL,
    MAX_BYTES,
    NOT_ATTEMPTED,
    PASSED,
    RUN_FAILED,
    check_installed,
    one_line,
)
from .notebook import build_notebook, check_calls
from .runner import Job, digest_files, grade_notebook, package_files, short_path  # noqa: F401
from .sandbox import sandbox_mode
from .submissions import (  # noqa: F401
    Exercise,
    Submission,
    cell_source,
    exercises,
    find_submissions,
    grading_metadata,
    load_course,
)
from .table import check_out, table, write_csv

__all__ = [
    "Exercise",
    "Submission",
    "load_course",
    "exercises",
    "find_submissions",
    "check_calls",
    "build_notebook",
    "sandbox_mode",
    "grade_notebook",
    "grade",
    "table",
    "write_csv",
    "check_installed",
    "process_pool",
    "default_jobs",
    "NSTError",
    "DEFAULT_TIMEOUT",
    "MAX_BYTES",
    "EXTRA_MODULES",
    "INSTALL",
    "PASSED",
    "FAILED",
    "NOT_ATTEMPTED",
    "RUN_FAILED",
    "GRADER_FAILED",
]


def process_pool(jobs: int) -> cf.ProcessPoolExecutor:
    """A pool of ``jobs`` spawned processes (a forked TensorFlow can hang).

    Args:
        jobs: how many processes, a whole number >= 1.

    Returns:
        The pool; whoever uses it shuts it down.
    """
    if not (isinstance(jobs, int) and jobs >= 1):
        raise NSTError(f"jobs must be a whole number >= 1, not {jobs!r}.")
    return cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))


def default_jobs() -> int:
    """Kernels run at once by default: half the cores (each kernel's TensorFlow uses several).

    Returns:
        Between 1 and 4.
    """
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _check_timeout(timeout: float) -> None:
    """Raise NSTError unless ``timeout`` is a positive, finite number of seconds."""
    if not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
        raise NSTError(f"timeout must be a positive number of seconds, not {timeout!r}.")


def _matched_submissions(
    submissions: Sequence[str | os.PathLike], course_nbs: dict[str, dict]
) -> list[Submission]:
    """The submitted notebooks found (:func:`find_submissions`); NSTError if there are none, or
    if none of them is one of the course's notebooks."""
    subs = find_submissions(submissions, course_nbs)
    if not subs:
        raise NSTError("no submissions to grade.")
    if all(sub.notebook is None for sub in subs):
        raise NSTError(
            f"none of the {len(subs)} notebook{'s' if len(subs) != 1 else ''} given is "
            f"one of the course's (name them like {next(iter(course_nbs))}.ipynb, or "
            "pass --course DIR); nothing was written."
        )
    return subs


def _warned_sandbox_mode() -> str:
    """How kernels are isolated here (:func:`sandbox_mode`), with a warning on stderr where
    bubblewrap cannot run."""
    mode, why = sandbox_mode()
    if mode != "bwrap":
        print(
            f"nst: warning: {why}: submissions run in kernels of their own with limits on "
            "memory, CPU time, processes and file size, but NOT isolated: they can read and write "
            "this user's files, reach the network and see other processes. Grade untrusted "
            "classes where bubblewrap works (apt-get install bubblewrap).",
            file=sys.stderr,
        )
    return mode


def _ungraded(student: str, notebook: str | None, note: str, **extra: str) -> dict[str, Any]:
    """The result of a notebook that was not graded: no statuses, one note."""
    return {"student": student, "notebook": notebook, "results": {}, "notes": [note], **extra}


def _read_submission(sub: Submission) -> str | None:
    """A submission's text; None, unread, when it is over :data:`MAX_BYTES`."""
    try:
        size = sub.path.stat().st_size
        text = sub.path.read_text(encoding="utf-8", errors="replace") if size <= MAX_BYTES else ""
    except OSError as err:
        raise NSTError(f"{sub.path}: cannot read it ({err.strerror}).") from None
    return text if size <= MAX_BYTES else None


def _plan(
    subs: list[Submission],
    course_nbs: dict[str, dict],
    timeout: float,
    mode: str,
    watch: tuple[str, ...],
) -> tuple[list[dict], list[Job], dict[tuple[str, str], str]]:
    """Read the submissions: the rows of those that will not run, the jobs of those that will,
    and the notes of those that were taken from several copies (by student and notebook)."""
    results: list[dict[str, Any]] = []
    todo: list[Job] = []
    copy_notes: dict[tuple[str, str], str] = {}
    for sub in subs:
        if sub.notebook is None:
            results.append(_ungraded(sub.student, None, f"{sub.path.name}: {sub.problem}"))
            continue
        text = _read_submission(sub)
        if text is None:
            note = f"{sub.path.name}: over {MAX_BYTES >> 20} MB, not graded"
            results.append(_ungraded(sub.student, sub.notebook, note))
            continue
        course_nb = course_nbs[sub.notebook]
        todo.append(
            Job(sub.student, sub.notebook, text, course_nb, timeout, sandbox=mode, watch=watch)
        )
        if sub.copies:
            copy_notes[(sub.student, sub.notebook)] = (
                f"{sub.notebook}: took the newest of {len(sub.copies) + 1} copies, {sub.path.name}"
            )
    return results, todo, copy_notes


def _result_of(future: cf.Future[dict], job: Job) -> dict[str, Any]:
    """A worker's result; for a worker that died, or a bug, a row that says so."""
    try:
        return future.result()
    except Exception as err:  # noqa: BLE001 - a worker that died, or a bug: say so, go on
        why = f"{GRADER_FAILED} ({type(err).__name__}: {one_line(err)[:200]})"
        return _ungraded(job.student, job.notebook, f"{job.notebook}: {why}", grader_error=why)


def _say_graded(res: dict[str, Any]) -> None:
    """Print a line for a notebook just graded."""
    got = sum(1 for s, _ in res["results"].values() if s == PASSED)
    print(
        f"{res['student']}, {res['notebook']}: {got}/{len(res['results'])} passed"
        + (f" ({'; '.join(res['notes'])})" if res["notes"] else "")
        + (f", {res['seconds']:.0f} s" if "seconds" in res else ""),
        flush=True,
    )


def _run_jobs(
    todo: list[Job],
    copy_notes: dict[tuple[str, str], str],
    jobs: int | None,
    executor: cf.Executor | None,
    verbose: bool,
) -> list[dict]:
    """Grade the jobs on ``executor`` (else a pool of our own, shut down here); their results in
    the order they finish."""
    own = process_pool(jobs or default_jobs()) if executor is None and todo else None
    pool = own if own is not None else executor  # None only when there is nothing to grade
    results: list[dict[str, Any]] = []
    try:
        futures: dict[cf.Future[dict], Job] = (
            {pool.submit(grade_notebook, job): job for job in todo} if pool is not None else {}
        )
        for future in cf.as_completed(futures):
            res = _result_of(future, futures[future])
            if (res["student"], res["notebook"]) in copy_notes:
                res["notes"] = [copy_notes[(res["student"], res["notebook"])], *res["notes"]]
            results.append(res)
            if verbose:
                _say_graded(res)
    finally:
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)
    return results


def _check_some_graded(results: list[dict], todo: list[Job]) -> None:
    """Raise NSTError when no notebook could be graded: a table of zeros would be a lie."""
    failed = [r["grader_error"] for r in results if r.get("grader_error")]
    if todo and len(failed) == len(todo):
        raise NSTError(
            f"no notebook could be graded ({failed[0]}); nothing was written. Check "
            "that a python3 kernel starts here (jupyter kernelspec list; "
            f"{INSTALL})."
        )


def _check_unchanged(before: dict[str, str]) -> None:
    """Raise NSTError when the grader's own files changed since their digests ``before``."""
    changed = [k for k, v in digest_files(before).items() if before[k] != v]
    if changed:
        raise NSTError(
            f"the grader's own files (its checks and reference values) changed while "
            f"grading ({short_path(changed[0])}); nothing was written. If nobody edited "
            "them, a submission run without a sandbox did: reinstall nst-helpers and "
            "grade again where bubblewrap works."
        )


def grade(
    submissions: Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int | None = None,
    executor: cf.Executor | None = None,
    course: str | os.PathLike | None = None,
    force: bool = False,
    verbose: bool = True,
) -> list[dict]:
    """Grade submitted notebooks, each in a fresh kernel; write one CSV row per student.

    Args:
        submissions: notebook files, or folders searched for them.
        out: the CSV file to write (None: write nothing); never replaced unless ``force``.
        timeout: seconds the cells of one notebook may run in all.
        jobs: notebooks graded at once in a pool of spawned processes (default: half the cores);
            ignored when ``executor`` is given.
        executor: any :class:`concurrent.futures.Executor` (a Dask cluster's
            ``client.get_executor()``); it must be able to start Jupyter kernels.
        course: the folder of the course's student notebooks (default: the checkout's).
        force: replace ``out`` if it exists.
        verbose: print a line per notebook as it is graded.

    Returns:
        The rows, one dict per student: ``{"student", column: status..., "points", "out of",
        "notes"}``.
    """
    check_installed()
    _check_timeout(timeout)
    out = pathlib.Path(out) if out is not None else None
    if out is not None:
        check_out(out, force)
    course_nbs = load_course(course)
    subs = _matched_submissions(submissions, course_nbs)
    mode = _warned_sandbox_mode()
    watch = tuple(str(p) for sub in subs for p in [sub.path, *sub.copies])
    package_before = digest_files(package_files())
    results, todo, copy_notes = _plan(subs, course_nbs, float(timeout), mode, watch)
    results += _run_jobs(todo, copy_notes, jobs, executor, verbose)
    _check_some_graded(results, todo)
    _check_unchanged(package_before)
    rows = table(results, course_nbs)
    if out is not None:
        write_csv(rows, out, force=force)
    return rows
