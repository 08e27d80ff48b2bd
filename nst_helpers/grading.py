"""Grading a class's notebooks: ``nst grade SUBMISSIONS... --out grades.csv``.

Each submitted notebook is graded against the course's own student version (``notebooks/student/``
of a checkout, or ``--course DIR``), never against what the submission says about itself:

1. The submission is matched to a course notebook by its name (``03_content_loss.ipynb``,
   ``alice_03_content_loss.ipynb``) or, failing that, by the nbgrader ids of its cells. The student
   is named by what precedes the notebook's name in the file name, else by the folder holding it
   (``alice/03_content_loss.ipynb``; nbgrader's ``submitted/alice/ASSIGNMENT/NOTEBOOK.ipynb``).
2. A notebook is built from the course's cells with the submission's *answer cells* put in (matched
   by nbgrader id, then cell id, then first line). Every other cell is the course's: a changed or
   added cell of the submission never runs. Each autograded test cell is replaced by the grader's
   verdict, which loads a fresh copy of :mod:`nst_helpers.checks` from a private folder, with the
   package's reference values, and runs the course's own check calls: a submission that redefines
   ``checks.check_*``, patches the checks module or edits the reference values it can see changes
   nothing. Cells after the last test cell are not run; they cannot change a grade.
3. That notebook runs in a fresh kernel, in a temporary folder, with a temporary home, cache, copy
   of the package and of VGG19's weights, in CI mode (tiny images; the checks do not depend on it),
   within a time limit for the whole notebook. A hang is stopped at the limit, a crashed kernel is
   reported; the exercises whose verdict did not run get no points. After the run the grader
   compares its private reference files with the package's: a notebook that found and changed
   them gets no points at all, and the report says why.
4. One row per student, one column per exercise (``passed``, ``failed: <the check's message>`` or
   ``not attempted``), the points, the points possible and notes.

Grading needs the ``[grade]`` extra (``pip install "nst-helpers[grade]"``): :func:`check_installed`
names a missing package before any submission is read. A run in which no notebook could be graded
(the grader's trouble, not the students') writes no table of zeros: it raises instead.

Grading runs on any :class:`concurrent.futures.Executor`: a pool of spawned processes by default
(``jobs``), or a Dask cluster's ``client.get_executor()`` (:func:`nst_helpers.sweep.executor_for`).
Jobs carry the submission's text and the course's notebook, and return plain dicts.

.. note:: The grader runs each submission's code in a kernel of its own, without the course's
   files, home folder or package within reach, but it is not a sandbox: code written to attack the
   grader (patching NumPy or TensorFlow inside the kernel, reading the grader's files from its
   process) runs with the rights of the user who grades. Grade untrusted classes in a container or
   a JupyterHub's isolated user server.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import dataclasses
import hashlib
import json
import multiprocessing
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Iterable, Sequence

from .errors import NSTError

__all__ = ["Exercise", "load_course", "find_submissions", "grade", "write_csv", "DEFAULT_TIMEOUT"]

#: Seconds a submission's cells may run in all, unless told otherwise.
DEFAULT_TIMEOUT = 600
#: A submission larger than this is not read (notebooks with their outputs are a few MB).
MAX_BYTES = 64 * 1024 * 1024
_ROOT = pathlib.Path(__file__).resolve().parents[1]
_NOT_WRITTEN = "is not written yet"

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
#: Notes of a notebook that could not be graded through no fault of its own.
RUN_FAILED, GRADER_FAILED = "the run failed", "the grader failed"

#: What grading imports (here, and in every worker) and starts (the kernel): the ``[grade]`` extra.
EXTRA_MODULES = ("nbformat", "nbclient", "jupyter_client", "ipykernel")
INSTALL = 'pip install "nst-helpers[grade]"'


def check_installed() -> None:
    """Raise :class:`NSTError` in one line, naming the package and the extra, when grading cannot
    run here: a package of the ``[grade]`` extra is missing, or no ``python3`` Jupyter kernel is
    installed. Checked before any submission is read or any file written."""
    import importlib
    import importlib.util

    for name in EXTRA_MODULES:
        try:
            if name == "ipykernel":  # it runs in the kernel, not here: found, not imported
                found = importlib.util.find_spec(name) is not None
            else:
                importlib.import_module(name)
                found = True
        except (ImportError, ValueError):
            found = False
        if not found:
            raise NSTError(f"nst grade needs {name}, which the [grade] extra installs: {INSTALL}; "
                           "nothing was graded.")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        raise NSTError("nst grade runs each notebook in a python3 Jupyter kernel and none is "
                       f"installed: {INSTALL} (it brings ipykernel); nothing was graded.") from None


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One autograded test cell of a course notebook.

    Attributes:
        notebook: the notebook's stem, ``03_content_loss``.
        grade_id: the test cell's nbgrader id, ``check-content_loss``.
        points: what passing it is worth (the cell's nbgrader points).
    """

    notebook: str
    grade_id: str
    points: float

    @property
    def column(self) -> str:
        """The CSV column: ``03 content_loss (1 pt)``."""
        what = self.grade_id.removeprefix("check-").replace("-", "+")
        pts = f"{self.points:g} pt" + ("" if self.points == 1 else "s")
        return f"{self.notebook[:2]} {what} ({pts})"


# --------------------------------------------------------------------------------------------------
# The course
# --------------------------------------------------------------------------------------------------


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(str(s) for s in src) if isinstance(src, list) else str(src)


def _grading(cell: dict) -> dict:
    meta = cell.get("metadata")
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def load_course(folder: str | os.PathLike | None = None) -> dict[str, dict]:
    """The course's student notebooks, by stem: what every submission is graded against.

    Args:
        folder: the folder of the student notebooks; default ``notebooks/student`` of the checkout
            this package runs from.

    Returns:
        ``{"01_convolutions": notebook, ...}``, the notebooks as dicts, for those that hold at
        least one autograded test cell.
    """
    folder = pathlib.Path(folder) if folder is not None else _ROOT / "notebooks" / "student"
    if not folder.is_dir():
        raise NSTError(f"{folder}: no course notebooks there; pass --course DIR, the folder of the "
                       "course's student notebooks (notebooks/student in a checkout of the course).")
    course = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise NSTError(f"{path}: not a readable notebook ({err}).") from None
        if exercises(nb, path.stem):
            course[path.stem] = nb
    if not course:
        raise NSTError(f"{folder}: no notebook there has an autograded test cell (nbgrader "
                       "metadata); run `python tools/notebooks.py normalise` in the course's checkout.")
    return course


def exercises(nb: dict, stem: str) -> list[Exercise]:
    """The autograded test cells of course notebook ``nb`` (named ``stem``), in order."""
    out = []
    for cell in nb.get("cells", []):
        meta = _grading(cell)
        if cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution"):
            out.append(Exercise(stem, str(meta["grade_id"]), float(meta.get("points", 0))))
    return out


# --------------------------------------------------------------------------------------------------
# Submissions: which notebook, whose
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Submission:
    """One submitted notebook: its path, the student, the course notebook it answers."""

    path: pathlib.Path
    student: str
    notebook: str | None
    problem: str | None = None


def find_submissions(paths: Iterable[str | os.PathLike], course: dict[str, dict]) -> list[Submission]:
    """The notebooks among ``paths`` (files, or folders searched recursively), matched to the course.

    Args:
        paths: notebook files and folders of them.
        course: the course, from :func:`load_course`.

    Returns:
        One :class:`Submission` per notebook file, sorted by student then notebook.
    """
    files = []
    for p in map(pathlib.Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.ipynb")
                           if ".ipynb_checkpoints" not in f.parts and f.is_file())
            if not found:
                raise NSTError(f"{p}: no notebook (.ipynb) in this folder.")
            files += found
        elif p.is_file():
            if p.suffix != ".ipynb":
                raise NSTError(f"{p}: not a notebook (.ipynb); pass notebooks or folders of them.")
            files.append(p)
        else:
            raise NSTError(f"{p}: no such file or folder.")
    subs, seen = [], {}
    for f in dict.fromkeys(files):
        sub = _identify(f, course)
        key = (sub.student, sub.notebook)
        if sub.notebook is not None and key in seen:
            raise NSTError(f"{sub.student} submitted {sub.notebook} twice ({seen[key]} and {f}); "
                           "keep one of them.")
        seen[key] = f
        subs.append(sub)
    return sorted(subs, key=lambda s: (s.student, s.notebook or ""))


def _identify(path: pathlib.Path, course: dict[str, dict]) -> Submission:
    stem = path.stem
    named = [c for c in course if c in stem]
    notebook = named[0] if len(named) == 1 else None
    if notebook is None:  # by the nbgrader ids of its cells
        try:
            cells = json.loads(path.read_bytes()[:MAX_BYTES]).get("cells", [])
            ids = {str(_grading(c).get("grade_id")) for c in cells if isinstance(c, dict)} - {"None"}
        except (OSError, ValueError, AttributeError):
            ids = set()
        scores = {c: len(ids & {str(_grading(x).get("grade_id")) for x in nb["cells"]})
                  for c, nb in course.items()}
        best = max(scores, key=scores.get, default=None)
        notebook = best if best is not None and scores[best] > 0 else None
    problem = None if notebook else ("could not tell which course notebook this is (name it like "
                                     f"{next(iter(course))}.ipynb)")
    return Submission(path, _student_of(path, notebook, course), notebook, problem)


def _student_of(path: pathlib.Path, notebook: str | None, course: dict[str, dict]) -> str:
    """``alice`` from nbgrader's ``submitted/alice/ASSIGNMENT/NOTEBOOK.ipynb``, from
    ``alice_03_content_loss.ipynb``, ``alice/03_content_loss.ipynb`` or ``alice.ipynb``."""
    parts = path.resolve().parts[:-1]
    if "submitted" in parts[:-1]:
        return parts[len(parts) - parts[::-1].index("submitted")]
    if notebook and notebook in path.stem:
        name = re.sub(r"^[\W_]+|[\W_]+$", "", path.stem.replace(notebook, ""))
        if name:
            return name
        for name in reversed(parts):
            if name not in course:
                return name
    return path.stem


# --------------------------------------------------------------------------------------------------
# The notebook that runs
# --------------------------------------------------------------------------------------------------

_VERDICT = '''\
def __nst_verdict_{token}(__ns):
    import importlib.util, json, pathlib
    spec = importlib.util.spec_from_file_location("nst_helpers._graded_checks_{token}", {checks!r})
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    checks.data_dir = lambda: pathlib.Path({data!r})
    ns = dict(__ns)
    ns["checks"] = checks
    try:
        exec(compile({source!r}, "<the course's check cell>", "exec"), ns)
        verdict = ["passed", ""]
    except checks.CheckFailed as err:
        verdict = ["failed", str(err)]
    except KeyboardInterrupt:
        raise
    except BaseException as err:
        verdict = ["error", f"{{type(err).__name__}}: {{err}}"]
    print("NST-GRADE-{token} " + json.dumps(verdict))
__nst_verdict_{token}(globals())
del __nst_verdict_{token}'''


def _answer_in(submission: list, course_cell: dict) -> str | None:
    """The source of the submission's cell that answers ``course_cell``, or None."""
    gid, cid = _grading(course_cell).get("grade_id"), course_cell.get("id")
    code = [c for c in submission if isinstance(c, dict) and c.get("cell_type") == "code"]
    for match in (lambda c: _grading(c).get("grade_id") == gid,
                  lambda c: cid is not None and c.get("id") == cid,
                  lambda c: _source(c).strip().splitlines()[:1] == _source(course_cell).strip().splitlines()[:1]):
        found = [c for c in code if match(c)]
        if found:
            return _source(found[0])
    return None


def build_notebook(course_nb: dict, submission: dict, token: str, checks_file: str,
                   data_dir: str) -> tuple[dict, dict, list[str]]:
    """The notebook the kernel runs: the course's cells, the submission's answers, the verdicts.

    Args:
        course_nb: the course's student notebook.
        submission: the submitted notebook (untrusted; only its answer cells' sources are read).
        token: a random word that marks the verdicts' output lines.
        checks_file: the private copy of ``checks.py`` the verdicts load.
        data_dir: the private copy of the reference values.

    Returns:
        ``(notebook, verdict cell index by grade id, notes)``.
    """
    cells = submission.get("cells") if isinstance(submission, dict) else None
    cells = cells if isinstance(cells, list) else []
    out, verdicts, notes = [], {}, []
    last = max((i for i, c in enumerate(course_nb["cells"]) if _grading(c).get("grade")), default=-1)
    for cell in course_nb["cells"][:last + 1]:
        if cell.get("cell_type") != "code":
            continue
        meta, src = _grading(cell), _source(cell)
        if meta.get("solution"):
            answer = _answer_in(cells, cell)
            if answer is None:
                notes.append(f"no answer cell {meta.get('grade_id')}")
            src = src if answer is None else answer
        elif meta.get("grade"):
            verdicts[meta["grade_id"]] = len(out)
            src = _VERDICT.format(token=token, checks=checks_file, data=data_dir, source=src)
        out.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                    "source": src})
    nb = {"cells": out, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                    "language": "python"}},
          "nbformat": 4, "nbformat_minor": 4}
    return nb, verdicts, notes


# --------------------------------------------------------------------------------------------------
# Running one submission (in a worker)
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Job:
    """Everything a worker needs to grade one notebook: plain data, so any executor ships it."""

    student: str
    notebook: str
    text: str
    course_nb: dict
    timeout: float


def _digests(folder: pathlib.Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def _copy_package(dest: pathlib.Path) -> None:
    """A private copy of this package, its reference values and its samples, for the kernel."""
    from importlib import resources

    from . import checks

    pkg = pathlib.Path(__file__).resolve().parent
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(pkg, dest / "nst_helpers", ignore=ignore)
    for sub, src in (("check_data", checks.data_dir()),
                     ("sample_data", pathlib.Path(str(resources.files("nst_helpers.sample_data"))))):
        target = dest / "nst_helpers" / sub
        if not (target / "__init__.py").exists():
            shutil.copytree(src, target, ignore=ignore, dirs_exist_ok=True)


def _copy_weights(home: pathlib.Path) -> dict[str, str]:
    """Copies of VGG19's weights in the kernel's own cache folders; its environment variables."""
    from . import weights

    cache, keras_home = home / ".cache" / "nst_helpers", home / ".keras"
    cache.mkdir(parents=True)
    converted = weights.converted_path()
    if converted.is_file() and weights.check_converted(converted, record=False) is None:
        shutil.copy2(converted, cache / weights.CONVERTED_FILE)  # a damaged copy stays behind
        if weights.record_path(converted).is_file():
            shutil.copy2(weights.record_path(converted),
                         weights.record_path(cache / weights.CONVERTED_FILE))
    if weights.keras_cache_path().is_file():
        (keras_home / "models").mkdir(parents=True)
        shutil.copy2(weights.keras_cache_path(), keras_home / "models" / weights.KERAS_FILE)
    return {"NST_CACHE_DIR": str(cache), "KERAS_HOME": str(keras_home)}


def _verdict_of(cell: dict, token: str):
    mark = f"NST-GRADE-{token} "
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            for line in _source({"source": out.get("text", "")}).splitlines():
                if line.startswith(mark):
                    try:
                        value = json.loads(line[len(mark):])
                    except ValueError:
                        continue
                    if isinstance(value, list) and len(value) == 2:
                        return [str(v) for v in value]
    return None


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def grade_notebook(job: _Job) -> dict:
    """Grade one submission in a fresh kernel (what each worker runs).

    Args:
        job: the submission's text, the course's notebook and the time limit.

    Returns:
        ``{"student", "notebook", "results": {grade_id: [status, detail]}, "notes": [...],
        "seconds"}``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from . import checks

    start = time.monotonic()
    ids = [e.grade_id for e in exercises(job.course_nb, job.notebook)]
    result = {"student": job.student, "notebook": job.notebook, "notes": [],
              "results": {g: [FAILED, "not graded"] for g in ids}}
    try:
        submission = json.loads(job.text)
    except ValueError as err:
        result["notes"].append(f"not a notebook ({_one_line(err)})")
        result["results"] = {g: [NOT_ATTEMPTED, ""] for g in ids}
        return result
    root = pathlib.Path(tempfile.mkdtemp(prefix="nst-grade-"))
    try:
        token = secrets.token_hex(8)
        ref = root / f"ref-{token}"
        data = ref / "data"
        data.mkdir(parents=True)
        shutil.copy2(pathlib.Path(checks.__file__), ref / "checks.py")
        for f in checks.data_dir().glob("*.npz"):
            shutil.copy2(f, data / f.name)
        trusted = _digests(ref) | {f"data/{k}": v for k, v in _digests(data).items()}
        home, work, tmp, pkg = (root / n for n in ("home", "work", "tmp", "pkg"))
        for d in (home, work, tmp, pkg):
            d.mkdir()
        _copy_package(pkg)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTHON", "JUPYTER", "IPYTHON", "NST_CACHE", "KERAS_HOME"))}
        env.update(_copy_weights(home), HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=str(pkg),
                   CI="true", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
                   IPYTHONDIR=str(home / ".ipython"))
        nb, verdicts, notes = build_notebook(job.course_nb, submission, token,
                                             str(ref / "checks.py"), str(data))
        result["notes"] += notes
        deadline = []

        def limit(cell):
            if not deadline:
                deadline.append(time.monotonic() + job.timeout)
            return max(1, int(deadline[0] - time.monotonic() + 0.999))

        node = nbformat.from_dict(nb)
        client = NotebookClient(node, kernel_name="python3", allow_errors=True, timeout_func=limit,
                                startup_timeout=180, record_timing=False,
                                resources={"metadata": {"path": str(work)}})
        stopped = None
        try:
            client.execute(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except CellTimeoutError:
            stopped = f"stopped at its {job.timeout:g} s time limit"
        except DeadKernelError:
            stopped = "its kernel died (the notebook crashed or ended Python)"
        except Exception as err:  # noqa: BLE001 - a kernel that would not start, a broken message
            stopped = f"{RUN_FAILED} ({type(err).__name__}: {_one_line(err)[:200]})"
            result["grader_error"] = stopped  # the grader's trouble, not the student's
        ran = [i for i, c in enumerate(node.cells) if c.get("execution_count") is not None]
        for gid, index in verdicts.items():
            verdict = _verdict_of(node.cells[index], token)
            if verdict is None:
                where = "while its check ran" if ran and index <= max(ran) else "before its check"
                result["results"][gid] = [FAILED, f"{stopped or 'the check did not run'} {where}"]
            elif verdict[0] == "passed":
                result["results"][gid] = [PASSED, ""]
            elif verdict[0] == "failed" and _NOT_WRITTEN in verdict[1]:
                result["results"][gid] = [NOT_ATTEMPTED, ""]
            else:
                detail = _one_line(verdict[1])
                if verdict[0] == "error" and detail.startswith("NameError"):
                    detail += " (did the exercise's cell run without an error?)"
                result["results"][gid] = [FAILED, detail]
        if stopped:
            result["notes"].append(f"{stopped} (cell {max(ran, default=0) + 1} of {len(node.cells)})")
        try:
            now = _digests(ref) | {f"data/{k}": v for k, v in _digests(data).items()}
        except OSError:
            now = {}
        if now != trusted:
            changed = sorted(k for k in trusted.keys() | now.keys() if trusted.get(k) != now.get(k))
            result["notes"].append("changed the checks' reference values (" + ", ".join(changed[:3])
                                   + "): no points")
            result["results"] = {g: [FAILED, "the notebook changed the checks' reference values"]
                                 for g in ids}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


# --------------------------------------------------------------------------------------------------
# A class
# --------------------------------------------------------------------------------------------------


def process_pool(jobs: int) -> cf.ProcessPoolExecutor:
    """A pool of ``jobs`` spawned processes (a forked TensorFlow can hang)."""
    if not (isinstance(jobs, int) and jobs >= 1):
        raise NSTError(f"jobs must be a whole number >= 1, not {jobs!r}.")
    return cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))


def default_jobs() -> int:
    """Kernels run at once by default: half the cores (each kernel's TensorFlow uses several)."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _check_out(out: pathlib.Path, force: bool) -> None:
    if out.is_dir():
        raise NSTError(f"{out} is a folder; --out needs a file name such as grades.csv.")
    if out.exists() and not force:
        raise NSTError(f"{out} exists; pass --force to replace it, or choose another --out.")
    if not out.parent.is_dir():
        raise NSTError(f"{out.parent}: no such folder for --out.")
    if not os.access(out.parent, os.W_OK):
        raise NSTError(f"{out.parent}: cannot write there; choose another --out.")


def grade(submissions: Sequence[str | os.PathLike], out: str | os.PathLike | None = None, *,
          timeout: float = DEFAULT_TIMEOUT, jobs: int | None = None,
          executor: cf.Executor | None = None, course: str | os.PathLike | None = None,
          force: bool = False, verbose: bool = True) -> list[dict]:
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
    if not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
        raise NSTError(f"timeout must be a positive number of seconds, not {timeout!r}.")
    out = pathlib.Path(out) if out is not None else None
    if out is not None:
        _check_out(out, force)
    course_nbs = load_course(course)
    subs = find_submissions(submissions, course_nbs)
    if not subs:
        raise NSTError("no submissions to grade.")
    if all(sub.notebook is None for sub in subs):
        raise NSTError(f"none of the {len(subs)} notebook{'s' if len(subs) != 1 else ''} given is "
                       f"one of the course's (name them like {next(iter(course_nbs))}.ipynb, or "
                       "pass --course DIR); nothing was written.")
    results, todo = [], []
    for sub in subs:
        if sub.notebook is None:
            results.append({"student": sub.student, "notebook": None, "results": {},
                            "notes": [f"{sub.path.name}: {sub.problem}"]})
            continue
        try:
            size = sub.path.stat().st_size
            text = sub.path.read_text(encoding="utf-8", errors="replace") if size <= MAX_BYTES else ""
        except OSError as err:
            raise NSTError(f"{sub.path}: cannot read it ({err.strerror}).") from None
        if size > MAX_BYTES:
            results.append({"student": sub.student, "notebook": sub.notebook, "results": {},
                            "notes": [f"{sub.path.name}: over {MAX_BYTES >> 20} MB, not graded"]})
            continue
        todo.append(_Job(sub.student, sub.notebook, text, course_nbs[sub.notebook], float(timeout)))
    own = executor is None and bool(todo)
    pool = process_pool(jobs or default_jobs()) if own else executor
    try:
        futures = {pool.submit(grade_notebook, job): job for job in todo}
        for future in cf.as_completed(futures):
            job = futures[future]
            try:
                res = future.result()
            except Exception as err:  # noqa: BLE001 - a worker that died, or a bug: say so, go on
                why = f"{GRADER_FAILED} ({type(err).__name__}: {_one_line(err)[:200]})"
                res = {"student": job.student, "notebook": job.notebook, "results": {},
                       "notes": [f"{job.notebook}: {why}"], "grader_error": why}
            results.append(res)
            if verbose:
                got = sum(1 for s, _ in res["results"].values() if s == PASSED)
                print(f"{res['student']}, {res['notebook']}: {got}/{len(res['results'])} passed"
                      + (f" ({'; '.join(res['notes'])})" if res["notes"] else "")
                      + (f", {res['seconds']:.0f} s" if "seconds" in res else ""), flush=True)
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    failed = [r["grader_error"] for r in results if r.get("grader_error")]
    if todo and len(failed) == len(todo):  # nothing graded: a table of zeros would be a lie
        raise NSTError(f"no notebook could be graded ({failed[0]}); nothing was written. Check "
                       "that a python3 kernel starts here (jupyter kernelspec list; "
                       f"{INSTALL}).")
    rows = table(results, course_nbs)
    if out is not None:
        write_csv(rows, out, force=force)
    return rows


def table(results: list[dict], course_nbs: dict[str, dict]) -> list[dict]:
    """One row per student from the per-notebook results: a column per exercise, points, notes."""
    stems = sorted({r["notebook"] for r in results if r["notebook"]})
    exs = [e for stem in stems for e in exercises(course_nbs[stem], stem)]
    rows = {}
    for r in sorted(results, key=lambda r: (r["student"], r["notebook"] or "")):
        row = rows.setdefault(r["student"], {"student": r["student"], "_notes": [], "_seen": set()})
        row["_seen"].add(r["notebook"])
        for gid, (status, detail) in r["results"].items():
            row[(r["notebook"], gid)] = status if status != FAILED else f"{FAILED}: {detail}"
        row["_notes"] += [n if n.startswith(str(r["notebook"])) or not r["notebook"]
                          else f"{r['notebook']}: {n}" for n in r["notes"]]
    table_rows = []
    for row in rows.values():
        flat = {"student": row["student"]}
        points = 0.0
        for e in exs:
            status = row.get((e.notebook, e.grade_id), NOT_ATTEMPTED)
            flat[e.column] = status
            points += e.points if status == PASSED else 0.0
        missing = [s for s in stems if s not in row["_seen"]]
        notes = row["_notes"] + [f"{s}: not submitted" for s in missing]
        flat.update({"points": f"{points:g}", "out of": f"{sum(e.points for e in exs):g}",
                     "notes": "; ".join(notes)})
        table_rows.append(flat)
    return table_rows


def _cell(value: str) -> str:
    """A CSV cell that spreadsheets show as text, never run as a formula."""
    value = str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_csv(rows: list[dict], out: str | os.PathLike, force: bool = False) -> pathlib.Path:
    """Write the rows of :func:`grade` as a CSV file (never replacing one unless ``force``).

    Args:
        rows: the rows, all with the same columns.
        out: the file.
        force: replace ``out`` if it exists.

    Returns:
        The path written.
    """
    out = pathlib.Path(out)
    fields = list(rows[0]) if rows else ["student", "points", "out of", "notes"]
    try:
        with out.open("w" if force else "x", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(row.get(k, "")) for k in fields})
    except FileExistsError:
        raise NSTError(f"{out} appeared while grading; pass --force to replace it.") from None
    except OSError as err:
        raise NSTError(f"{out}: cannot write it ({err.strerror}).") from None
    return out


def run_command(args) -> int:
    """``nst grade``: what the command line asked for (see :func:`grade`).

    Returns 0, or 1 when some notebooks could not be graded through no fault of their own (their
    rows say why, and a line on stderr)."""
    check_installed()
    if args.out is not None:
        _check_out(pathlib.Path(args.out), args.force)  # before connecting to a cluster
    executor_cm = None
    if getattr(args, "scheduler", None):
        from .sweep import executor_for

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
