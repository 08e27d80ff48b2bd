"""Build, normalise and check the course notebooks.

    python tools/notebooks.py build [NAME ...]   # execute in full mode, normalise, write student versions
    python tools/notebooks.py normalise          # normalise only (no execution), write student versions
    python tools/notebooks.py check              # exit 1 if a notebook is not normalised or a student
                                                 # version is out of date (CI runs this through pytest)
    python tools/notebooks.py nbgrader DIR       # write an nbgrader course folder (source/, config)
    python tools/notebooks.py figures DIR [NN ...]  # every stored figure beside the words about it,
                                                 # one Markdown page per notebook, for a review
    python tools/notebooks.py retarget OWNER/NAME@REF  # point the course at a fork and a version
                                                 # (a tag), then normalise; see docs/publishing.md

Solved notebooks live in ``notebooks/NN_name.ipynb``; their student versions in
``notebooks/student/``. In a solved notebook, the lines of an exercise's answer sit between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers); the student version replaces
them with ``raise NotImplementedError(...)`` and drops the outputs and nbval's ``# NBVAL_*`` marker
lines (which only matter to the tests). Markdown between ``<!-- BEGIN SOLUTION -->`` and
``<!-- END SOLUTION -->`` is removed likewise.

Normalising sets the kernel to ``python3``, drops widget state, execution metadata, progress-bar
widgets (:data:`TQDM_TEXT`) and TensorFlow's start-up lines on standard error (:data:`TF_NOISE`),
renumbers execution counts, replaces the code cell tagged ``setup`` by :data:`SETUP` and the
markdown cell tagged ``nav`` by the Colab badge and previous/next links, so every notebook has the
same anatomy. ``build`` fills in those two cells before it executes a notebook.

Every Colab badge and setup cell names one repository and one version of it, :data:`REPO` and
:data:`BRANCH`, and so do the links of the README and the documents (Colab, Binder, ``pip install
"nst-helpers @ git+https://github.com/..."`` and links to the repository's files), the site's
configuration (``github:`` in ``site/myst.yml``) and the package's (``[project.urls]``).
``retarget OWNER/NAME@REF`` rewrites all of them (:func:`retarget`) and normalises; ``check`` fails
when one of them names another repository or version (:func:`link_problems`).

Normalising also writes nbgrader's cell metadata (:func:`nbgrader_metadata`), so that the solved
notebooks are nbgrader sources: a code cell with a solution region is an autograded answer
(``answer-NAME``), a code cell that calls ``checks.check_*`` without a solution region is a locked
autograded test (``check-NAME``) worth one point per check it calls (points set in the cell's
metadata are kept). The student versions are what ``nbgrader generate_assignment`` releases with the
course's configuration (:data:`NBGRADER_CONFIG`, written by the ``nbgrader`` command): locked cells,
checksums and all. A cell holding both a solution and its check is an answer without points, since
nbgrader gives points only to test cells.
"""

import copy
import json
import os
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STUDENT = NOTEBOOKS / "student"
#: Where the course lives on GitHub (OWNER/NAME), and the version of it (a tag, a branch or a commit)
#: that the Colab badges open and the setup cells install. Change them with ``retarget``, which
#: rewrites these two lines and everything that names them; ``check`` finds what disagrees.
REPO = "nst-course/nst-course"
BRANCH = "main"


def setup_source(repo, ref):
    """The setup cell of every notebook: in Colab it installs the course from ``repo`` at ``ref``.

    If pip fails, the cell stops with one line (``sys.exit``: IPython shows the message, not a
    traceback, and "Run all" stops there) that says what went wrong, judged from pip's output: no
    internet, a repository or version that does not exist, or pip's own last ``ERROR`` line. Outside
    Colab (JupyterLab, a hub, CI) it only sets ``CI``.
    """
    return f"""\
# Setup, the same in every notebook. In Colab it installs the course package from its repository
# (Colab's own TensorFlow and ipywidgets stay); if that fails, it says why in one line and stops.
import os, subprocess, sys
if "google.colab" in sys.modules:
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                          "nst-helpers @ git+https://github.com/{repo}@{ref}"],
                         capture_output=True, text=True)
    said = pip.stdout + pip.stderr
    if pip.returncode == 0:
        pass
    elif any(s in said for s in ("resolve host", "name resolution", "new connection",
                                 "Failed to connect", "unreachable")):
        sys.exit("No internet, so the course could not be installed: connect, then run this cell "
                 "again.")
    elif any(s in said for s in ("did not match any file", "not our ref", "Repository not found",
                                 "read Username")):
        sys.exit("The course could not be installed: github.com/{repo} has no version "
                 "'{ref}' (or is private). Open the notebook from your course's link, or ask your "
                 "instructor.")
    else:
        errors = [line for line in said.splitlines() if line.startswith("ERROR")]
        why = errors[-1] if errors else f"exit status {{pip.returncode}}"
        sys.exit(f"pip could not install the course ({{why}}). Run this cell again; if it fails "
                 "again, ask your instructor.")
CI = os.environ.get("CI", "").lower() == "true"  # CI mode: tiny images, few steps"""


SETUP = setup_source(REPO, BRANCH)

#: Start-up lines TensorFlow's C++ runtime writes to the process's standard error when a kernel
#: imports it (oneDNN notices, "could not find cuda drivers", cuInit failures, CPU-feature hints).
#: They say nothing about the notebook, differ from machine to machine, and are dropped from stored
#: outputs; every other line of standard error is kept.
TF_NOISE = re.compile(
    r"^(I\d{4} |W\d{4} .*(TF-TRT|TensorRT|cuda_)|E\d{4} .*(cuInit|cuda_platform|cuda_dnn|cuda_fft|cuda_blas)"
    r"|WARNING: All log messages before absl::InitializeLog\(\)"
    r"|To enable the following instructions:)"
)
#: The plain-text stand-in of a tqdm progress-bar widget: frozen at the moment it was displayed
#: ("0%| | 0/300"), so it is dropped with the widget; other widgets keep their text.
TQDM_TEXT = re.compile(r"\d+%\|.*\|\s*[\d.]+[kMG]?/[\d.?]+[kMG]? \[")
SOLUTION = re.compile(
    r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.S | re.M
)
#: nbval's markers; the student versions, which nbval does not run, go without them.
NBVAL_MARKER = re.compile(r"^[ \t]*# NBVAL_[A-Z_]+[ \t]*(?:\n|\Z)", re.M)
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->\n?", re.S)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: A call of one of the exercise checks, and the name of what it checks (its first argument).
CHECK_OF = re.compile(r"\bchecks\.check_\w+\(\s*([A-Za-z_]\w*)")
NBGRADER_SCHEMA = 3
#: The stub that replaces a solution; nbgrader's ``ClearSolutions.code_stub`` in the course's config.
CODE_STUB = 'raise NotImplementedError("Write your solution here.")'


def solved_notebooks():
    return sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def _source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _title(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+)$", _source(cell), re.M)
            if m:
                return m.group(1).strip()
    return path.stem


def nav(path, student=False):
    """The badge-and-links markdown for notebook ``path``."""
    books = solved_notebooks()
    i = [b.name for b in books].index(path.name)
    colab = f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/notebooks/"
    url = colab + ("student/" if student else "") + path.name  # each version opens itself
    parts = [
        f'<a href="{url}"><img src="https://colab.research.google.com/assets/colab-badge.svg" '
        f'alt="Open in Colab"/></a>'
    ]
    links = []
    if i > 0:
        links.append(f"← [{_title(books[i - 1])}]({books[i - 1].name})")
    if i + 1 < len(books):
        links.append(f"[{_title(books[i + 1])}]({books[i + 1].name}) →")
    if links:
        parts.append(" · ".join(links))
    if not student:
        parts.append(
            f"*Solved version. The exercises to fill in are in [student/{path.name}]"
            f"(student/{path.name}) ([open it in Colab]({colab}student/{path.name})).*"
        )
    return "\n\n".join(parts)


def _clean_outputs(outputs):
    out = []
    for o in outputs:
        o = copy.deepcopy(o)
        data = o.get("data")
        if data is not None and WIDGET_MIME in data:
            data.pop(WIDGET_MIME)
            text = data.get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            if not data or (list(data) == ["text/plain"] and TQDM_TEXT.search(text)):
                continue
        o.get("metadata", {}).pop("execution", None)
        if o.get("output_type") == "stream" and o.get("name") == "stderr":
            text = "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
            text = "".join(
                line for line in text.splitlines(keepends=True) if not TF_NOISE.match(line)
            )
            if not text.strip():
                continue
            o["text"] = text
        out.append(o)
    return out


def _answer_names(src):
    """What a solution cell defines: its top-level functions, else the names its solution assigns."""
    names = re.findall(r"^def (\w+)", src, re.M)
    if not names:
        for m in SOLUTION.finditer(src):
            names += re.findall(r"^[ \t]*([A-Za-z_]\w*)[ \t]*=[^=]", m.group(0), re.M)
    return list(dict.fromkeys(names))


def nbgrader_metadata(cell, taken):
    """The nbgrader metadata of a solved notebook's cell, or None for a cell nbgrader leaves alone.

    Args:
        cell: the cell (a dict); points already in its ``nbgrader`` metadata are kept.
        taken: the grade ids used so far in the notebook; the new one is added to it.

    Returns:
        A dict for ``cell["metadata"]["nbgrader"]``, or None.
    """
    if cell["cell_type"] != "code":
        return None
    src = _source(cell)
    checked = list(dict.fromkeys(CHECK_OF.findall(src)))
    if SOLUTION.search(src):
        meta = {"grade": False, "locked": False, "solution": True}
        stem = "answer-" + "-".join(_answer_names(src) or [cell.get("id") or "cell"])
    elif checked:
        old = cell.get("metadata", {}).get("nbgrader", {})
        points = (
            old["points"] if old.get("grade") and "points" in old else len(CHECK_OF.findall(src))
        )
        meta = {"grade": True, "locked": True, "solution": False, "points": points}
        stem = "check-" + "-".join(checked)
    else:
        return None
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", stem)[:60]
    grade_id, n = stem, 1
    while grade_id in taken:
        n += 1
        grade_id = f"{stem}-{n}"
    taken.add(grade_id)
    return {**meta, "grade_id": grade_id, "schema_version": NBGRADER_SCHEMA, "task": False}


def nbgrader_checksum(cell):
    """nbgrader's checksum of a released cell (``nbgrader.utils.compute_checksum``)."""
    import hashlib

    meta = cell["metadata"]["nbgrader"]
    m = hashlib.md5()
    locked = not meta["solution"] and (meta["grade"] or meta["locked"])
    for part in (
        _source(cell),
        cell["cell_type"],
        str(meta["grade"]),
        str(meta["solution"]),
        str(locked),
        meta["grade_id"],
    ):
        m.update(part.encode("utf-8"))
    if meta["grade"]:
        m.update(str(float(meta["points"])).encode("utf-8"))
    return m.hexdigest()


def normalise(nb, path, student=False):
    """Return a normalised copy of notebook ``nb`` (a dict) that lives at ``path``."""
    nb = copy.deepcopy(nb)
    nb["metadata"] = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        # Colab offers a GPU runtime for notebooks that ask for one; they run faster and at 512 px.
        "accelerator": "GPU",
        "colab": {"gpuType": "T4"},
    }
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    count = 0
    grade_ids = set()
    for i, cell in enumerate(nb["cells"]):
        _normalise_metadata(cell, grade_ids, student)
        cell["id"] = re.sub(r"[^A-Za-z0-9_-]", "-", cell.get("id") or f"cell-{i}")[:64]
        if "setup" in _tags(cell):
            cell["source"] = SETUP
        if "nav" in _tags(cell):
            cell["source"] = nav(path, student)
        count = _normalise_outputs(cell, count, student)
        cell["source"] = _source(cell)
    return nb


def _normalise_metadata(cell, grade_ids, student):
    """Drop a cell's execution and view metadata; in a solved notebook, (re)write nbgrader's."""
    meta = cell.get("metadata", {})
    for key in ("execution", "collapsed", "scrolled", "jupyter", "ExecuteTime"):
        meta.pop(key, None)
    cell["metadata"] = meta
    if not student:  # the student version keeps what to_student gave it
        grading = nbgrader_metadata(cell, grade_ids)
        meta.pop("nbgrader", None)
        meta.pop("deletable", None)
        meta.pop("editable", None)
        if grading:
            meta["nbgrader"] = grading


def _normalise_outputs(cell, count, student):
    """Clean a code cell's outputs and renumber it after ``count`` executed cells (a student
    version has none); a markdown cell has neither. Returns the count of executed cells so far."""
    if cell["cell_type"] != "code":
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
        return count
    if student:
        cell["outputs"], cell["execution_count"] = [], None
        return count
    cell["outputs"] = _clean_outputs(cell.get("outputs", []))
    if cell.get("execution_count") is not None:
        count += 1
        cell["execution_count"] = count
        for o in cell["outputs"]:
            if "execution_count" in o:
                o["execution_count"] = count
    return count


def to_student(nb, path):
    """The student version of a solved notebook: answers replaced, outputs dropped.

    It is what ``nbgrader generate_assignment`` makes of the normalised solved notebook with the
    course's configuration (a test checks it): nbgrader's cells locked (a test cell can be neither
    edited nor deleted, an answer cell not deleted) and their checksums computed.
    """
    nb = normalise(nb, path)  # the nbgrader source, metadata included
    for cell in nb["cells"]:
        src = _source(cell)
        if cell["cell_type"] == "code":
            src = SOLUTION.sub(lambda m: f"{m.group(1)}{CODE_STUB}\n", src)
            src = NBVAL_MARKER.sub("", src)
        else:
            src = MD_SOLUTION.sub("", src)
        cell["source"] = src.rstrip("\n") if src.strip() else src
        grading = cell["metadata"].get("nbgrader")
        if grading:
            cell["metadata"]["deletable"] = False
            if grading["grade"] and not grading["solution"]:
                cell["metadata"]["editable"] = False
            grading["checksum"] = nbgrader_checksum(cell)
            grading["cell_type"] = cell["cell_type"]
    return normalise(nb, path, student=True)


#: The course's ``nbgrader_config.py``: nbgrader's own pipeline with the course's stub, and two steps
#: of its own, around ``ClearSolutions``: before it, drop nbval's marker lines and markdown answers
#: (``<!-- BEGIN SOLUTION -->``); after it, drop the blank lines a cleared solution leaves at the
#: end of its cell. ``generate_assignment`` then writes the notebooks of ``notebooks/student/``.
NBGRADER_CONFIG = f'''\
"""nbgrader's configuration for the course (written by `python tools/notebooks.py nbgrader`)."""
import re

from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import ClearSolutions, NbGraderPreprocessor

c = get_config()  # noqa: F821 - defined by nbgrader when it reads this file
c.CourseDirectory.course_id = "nst-course"
c.ClearSolutions.code_stub = {{"python": {CODE_STUB!r}}}
c.Execute.timeout = 600  # seconds a cell may run when autograding


class CourseMarkers(NbGraderPreprocessor):
    """Drop nbval's marker lines (they matter only to the course's tests) and markdown answers."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            cell.source = re.sub({NBVAL_MARKER.pattern!r}, "", cell.source, flags=re.M)
        else:
            cell.source = re.sub({MD_SOLUTION.pattern!r}, "", cell.source, flags=re.S)
        return cell, resources


class TrimCells(NbGraderPreprocessor):
    """Drop the line breaks that end a cell once its solution is cleared."""

    def preprocess_cell(self, cell, resources, index):
        if cell.source.strip():
            cell.source = cell.source.rstrip("\\n")
        return cell, resources


steps = list(GenerateAssignment.class_traits()["preprocessors"].default())
i = steps.index(ClearSolutions)
c.GenerateAssignment.preprocessors = steps[:i] + [CourseMarkers, ClearSolutions, TrimCells] + steps[i + 1:]
'''


def write_nbgrader_course(folder, names=()):
    """Write an nbgrader course folder: ``nbgrader_config.py`` and ``source/NN_name/NN_name.ipynb``.

    Each notebook is an assignment of its own (release them week by week). The sources are the
    normalised solved notebooks, metadata included.

    Args:
        folder: the course folder to write (created if missing; files in it are replaced).
        names: parts of the notebooks' names to include; all when empty.

    Returns:
        The paths of the notebooks written.
    """
    folder = pathlib.Path(folder)
    written = []
    for path in solved_notebooks():
        if names and not any(n in path.name for n in names):
            continue
        target = folder / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dumps(normalise(json.loads(path.read_text()), path)))
        written.append(target)
    (folder / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    return written


def dumps(nb):
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def execute(path, timeout=1800):
    """Run a notebook top to bottom in a fresh ``python3`` kernel, in full mode (CI unset), and
    print how long it took and its longest cell (what a student waits for)."""
    import time

    import nbformat
    from nbclient import NotebookClient

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.pieces import cell_seconds  # the benchmarks' reading of nbclient's marks

    nb = nbformat.read(path, as_version=4)
    env_ci = os.environ.pop("CI", None)
    start = time.perf_counter()
    try:
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            record_timing=True,
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    finally:
        if env_ci is not None:
            os.environ["CI"] = env_ci
    cells = cell_seconds(nb)
    longest = max(cells, key=lambda c: c["seconds"])
    print(
        f"{path.name}: {time.perf_counter() - start:.0f} s in full mode, longest cell "
        f"{longest['seconds']:.0f} s (cell {longest['index']}: {longest['first_line']}), "
        f"{sum(c['seconds'] > 10 for c in cells)} cells over 10 s",
        flush=True,
    )
    return json.loads(nbformat.writes(nb))


def write_all(paths, run=False):
    for path in paths:
        nb = json.loads(path.read_text())
        if run:  # execute what will be stored: the setup and nav cells filled in first
            path.write_text(dumps(normalise(nb, path)))
            nb = execute(path)
        solved = normalise(nb, path)
        path.write_text(dumps(solved))
        STUDENT.mkdir(exist_ok=True)
        (STUDENT / path.name).write_text(dumps(to_student(solved, path)))
        print(f"wrote {path.relative_to(ROOT)} and student/{path.name}")


def problems():
    """What `check` complains about: a list of one-line messages."""
    out = []
    for path in solved_notebooks():
        nb = json.loads(path.read_text())
        if dumps(normalise(nb, path)) != path.read_text():
            out.append(f"{path.name}: not normalised; run `python tools/notebooks.py normalise`.")
        setup = [c for c in nb["cells"] if "setup" in _tags(c)]
        if len(setup) != 1:
            out.append(
                f"{path.name}: needs exactly one code cell tagged 'setup' (has {len(setup)})."
            )
        student = STUDENT / path.name
        if not student.exists() or dumps(to_student(nb, path)) != student.read_text():
            out.append(
                f"{path.name}: student version missing or out of date; run "
                "`python tools/notebooks.py normalise`."
            )
    for path in sorted(STUDENT.glob("*.ipynb")):
        if not (NOTEBOOKS / path.name).exists():
            out.append(f"student/{path.name}: has no solved notebook; delete it.")
    return out + link_problems()


_NAME = r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+"  # OWNER/NAME on GitHub
_REF = r"[^/\s\"'`<>()\[\]?#]+"  # a version in a link: up to the next / or the link's end
#: The links that name the course's repository and a version of it: (what, pattern, whether only
#: those naming REPO are the course's). A pattern's groups: what comes before the repository, the
#: repository, what lies between it and the version, and the version (absent from a pip link
#: that names none, which then installs the default branch).
LINKS = (
    (
        "Colab link",
        re.compile(rf"(colab\.research\.google\.com/github/)({_NAME})(/blob/)({_REF})"),
        False,
    ),
    ("Binder link", re.compile(rf"(mybinder\.org/v2/gh/)({_NAME})(/)({_REF})"), False),
    (
        "pip install",
        re.compile(rf"(nst-helpers\s*@\s*git\+https://github\.com/)({_NAME})(@?)({_REF})?"),
        False,
    ),
    ("link to a file", re.compile(rf"(github\.com/)({_NAME})(/(?:blob|tree|raw)/)({_REF})"), True),
    ("link to a file", re.compile(rf"(raw\.githubusercontent\.com/)({_NAME})(/)({_REF})"), True),
)
#: A setting whose whole value is a repository's address on GitHub (``github: https://...`` in
#: ``site/myst.yml``, ``Source = "https://..."`` in ``pyproject.toml``).
ADDRESS = re.compile(
    rf"^([ \t]*[\w.-]+[ \t]*[:=][ \t]*[\"']?https?://github\.com/)({_NAME})"
    rf"(?=/?[\"']?[ \t]*(?:#.*)?$)",
    re.M,
)
#: The files besides the notebooks that may name the course's repository (globs under ROOT);
#: this file, which holds REPO and BRANCH, is not among them.
COURSE_FILES = (
    "README.md",
    "pyproject.toml",
    "environment.yml",
    "site/*.yml",
    "site/*.md",
    "data/README.md",
    "docs/**/*.md",
    "tools/*.py",
    ".ci/*",
    ".github/**/*.yml",
)
#: Of those, the configuration files in which every address of a repository on GitHub is the
#: course's own (the site's and the package's).
CONFIG_FILES = ("site/myst.yml", "pyproject.toml")
THIS = pathlib.Path(__file__).resolve()


def course_files():
    """The files of :data:`COURSE_FILES` that are there, as paths under ROOT."""
    found = []
    for pattern in COURSE_FILES:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file() and path.resolve() != THIS and path not in found:
                found.append(path)
    return found


def _same_repo(a, b):
    return a.lower().removesuffix(".git") == b.lower().removesuffix(".git")


def _disagreements(text, config=False):
    """What in ``text`` names another repository or version than REPO and BRANCH."""
    out = []
    for what, pattern, only_ours in LINKS:
        for m in pattern.finditer(text):
            repo, ref = m.group(2), m.group(4)
            if only_ours and not _same_repo(repo, REPO):
                continue  # a file of another project
            if not _same_repo(repo, REPO) or ref != BRANCH:
                out.append(
                    f"its {what} names {repo}@{ref}"
                    if ref
                    else f"its {what} names {repo} and no version"
                )
    if config:
        out += [
            f"its address of the repository names {m.group(2)}"
            for m in ADDRESS.finditer(text)
            if not _same_repo(m.group(2), REPO)
        ]
    return list(dict.fromkeys(out))


def link_problems():
    """The files and notebooks that name another repository or version than REPO and BRANCH.

    A Colab, Binder or pip link (``nst-helpers @ git+https://github.com/...``) anywhere in the
    course is the course's, and so is a link to a file of REPO and every repository address in
    :data:`CONFIG_FILES`; a link to a file of another project is left alone. Returns one-line
    messages, as :func:`problems` does.
    """
    fix = (
        f"not {REPO}@{BRANCH} (REPO and BRANCH in tools/notebooks.py); run "
        f"`python tools/notebooks.py retarget {REPO}@{BRANCH}`."
    )
    found = []
    for path in course_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        rel = path.relative_to(ROOT).as_posix()
        found += [(rel, d) for d in _disagreements(text, config=rel in CONFIG_FILES)]
    for path in solved_notebooks() + sorted(STUDENT.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        rel = path.relative_to(ROOT).as_posix()
        found += [(rel, d) for d in _disagreements("\n".join(_source(c) for c in cells))]
    return [f"{rel}: {d}, {fix}" for rel, d in found]


def parse_target(text):
    """``OWNER/NAME@REF`` as ``(OWNER/NAME, REF)``; a ValueError with a one-line reason otherwise."""
    example = "such as myschool/nst-course@v2025.1 (a tag) or myschool/nst-course@main (a branch)"
    repo, at, ref = text.strip().rpartition("@")
    if not at or not ref:
        raise ValueError(f"{text!r} names no version: give OWNER/NAME@REF, {example}.")
    if (
        not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+", repo)
        or repo.endswith("/.git")
        or repo.split("/")[1] in (".", "..")
    ):
        raise ValueError(f"{repo!r} is not a repository on GitHub: give OWNER/NAME@REF, {example}.")
    if "/" in ref:
        raise ValueError(
            f"version {ref!r}: Colab's links cannot tell a '/' in a version from one in "
            f"a path; tag the version with a name without '/', {example}."
        )
    if (
        not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", ref)
        or ".." in ref
        or ref.endswith((".", ".lock"))
    ):
        raise ValueError(
            f"version {ref!r} is not the name of a tag, branch or commit: give "
            f"OWNER/NAME@REF, {example}."
        )
    return repo.removesuffix(".git"), ref


def retarget_text(text, old, repo, ref, config=False):
    """``text`` with its course links naming ``repo`` at ``ref``, and ``old`` replaced by ``repo``."""

    def fix(m, only_ours):
        if only_ours and not _same_repo(m.group(2), old):
            return m.group(0)
        return m.group(1) + repo + (m.group(3) or "@") + ref

    for _, pattern, only_ours in LINKS:
        text = pattern.sub(lambda m: fix(m, only_ours), text)
    if config:
        text = ADDRESS.sub(lambda m: m.group(1) + repo, text)
    return re.sub(rf"(?<![\w.-]){re.escape(old)}(?![\w-])", repo, text, flags=re.I)


def retarget(repo, ref):
    """Point the course at the repository ``repo`` (OWNER/NAME) and its version ``ref``.

    Rewrites :data:`REPO` and :data:`BRANCH` in this file, the course's links and addresses in
    :func:`course_files` and in the solved notebooks' cells (see :func:`link_problems`), and the
    former repository's name wherever else those files hold it; then normalises every notebook,
    which gives the badges and setup cells the new repository and version, and writes the student
    versions. Nothing is executed.

    Returns:
        The files rewritten before normalising, as paths under ROOT.
    """
    global REPO, BRANCH, SETUP
    old = REPO
    this = THIS.read_text()
    this, n_repo = re.subn(r'^REPO = "[^"\n]*"$', f'REPO = "{repo}"', this, count=1, flags=re.M)
    this, n_ref = re.subn(r'^BRANCH = "[^"\n]*"$', f'BRANCH = "{ref}"', this, count=1, flags=re.M)
    if not (n_repo and n_ref):
        raise ValueError(f'{THIS.name} has no line `REPO = "..."` or `BRANCH = "..."` to rewrite.')
    texts = {THIS: this}
    for path in course_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        config = path.relative_to(ROOT).as_posix() in CONFIG_FILES
        texts[path] = retarget_text(text, old, repo, ref, config=config)
    for path in solved_notebooks():
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            cell["source"] = retarget_text(_source(cell), old, repo, ref)
        texts[path] = dumps(nb)
    changed = [path for path, text in texts.items() if text != path.read_text(encoding="utf-8")]
    for path in changed:
        path.write_text(texts[path], encoding="utf-8")
    REPO, BRANCH, SETUP = repo, ref, setup_source(repo, ref)
    write_all(solved_notebooks())
    return changed


FIGURE_MIME = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif"}
#: A comment in a code cell: the whole line after ``#`` (nbval's markers and the setup's excepted).
CODE_COMMENT = re.compile(r"(?:^|\s)#\s?(?!\s*NBVAL_)(.+)$", re.M)


def _comments(src):
    """The comments of a code cell, one per line (strings that hold a ``#`` may slip in: harmless)."""
    return [m.group(1).rstrip() for m in CODE_COMMENT.finditer(src)]


def _prose(cells):
    return "\n\n".join(_source(c).strip() for c in cells if _source(c).strip())


def _cell_figures(cell):
    """The images stored in a code cell's outputs: ``[(MIME type, base64 data)]``."""
    return [
        (mime, out["data"][mime])
        for out in cell.get("outputs", [])
        for mime in FIGURE_MIME
        if mime in out.get("data", {})
    ]


def _markdown_around(cells, i):
    """The markdown cells just above cell ``i`` (back to the previous code cell) and just below
    it (up to the next code cell)."""
    before, j = [], i - 1
    while j >= 0 and cells[j]["cell_type"] == "markdown":
        before.insert(0, cells[j])
        j -= 1
    after, j = [], i + 1
    while j < len(cells) and cells[j]["cell_type"] == "markdown":
        after.append(cells[j])
        j += 1
    return before, after


def _printed(cell):
    """What a code cell printed on standard output."""
    return "".join(
        _source({"source": o.get("text", "")})
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )


def _figure_section(cells, i, count, image):
    """The review page's lines for figure ``count`` (the file ``image``) of code cell ``i``."""
    cell = cells[i]
    before, after = _markdown_around(cells, i)
    printed = _printed(cell)
    lines = [
        f"## Figure {count} (cell {i}, id `{cell.get('id', '?')}`)",
        "",
        "**Text above:**",
        "",
        _prose(before) or "(none)",
        "",
        f"![figure {count}]({image})",
        "",
    ]
    comments = _comments(_source(cell))
    if comments:
        lines += ["**Code comments:**", ""] + [f"- {c}" for c in comments] + [""]
    if printed.strip():
        lines += ["**Printed:**", "", "```", printed.rstrip(), "```", ""]
    lines += ["**Text below:**", "", _prose(after) or "(none)", "", "---", ""]
    return lines


def _figures_page(path, images):
    """The review page of notebook ``path`` (its lines), its figures saved in the folder
    ``images``; and the number of figures."""
    import base64

    cells = json.loads(path.read_text())["cells"]
    lines = [
        f"# Figures of {path.name}: {_title(path)}",
        "",
        "Each figure beside the words around it. Is every sentence true of the picture?",
        "",
    ]
    count = 0
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        for mime, data in _cell_figures(cell):
            count += 1
            name = f"figure{count:02d}.{FIGURE_MIME[mime]}"
            images.mkdir(parents=True, exist_ok=True)
            (images / name).write_bytes(base64.b64decode("".join(data)))
            lines += _figure_section(cells, i, count, f"{path.stem}/{name}")
    return lines, count


def figure_pages(folder, paths=None):
    """Write every stored figure of the solved notebooks beside the words that speak of it.

    One Markdown page per notebook, ``folder/NN_name.md``, with its images in ``folder/NN_name/``.
    Each figure comes with the markdown just above its code cell (back to the previous code cell),
    the cell's code comments and printed text, and the markdown just below it (up to the next code
    cell): what a reader sees around the picture. Read each figure against those words.

    Returns the pages written, as ``(path, number of figures)``.
    """
    folder = pathlib.Path(folder)
    written = []
    for path in paths or solved_notebooks():
        lines, count = _figures_page(path, folder / path.stem)
        page = folder / f"{path.stem}.md"
        folder.mkdir(parents=True, exist_ok=True)
        page.write_text("\n".join(lines))
        written.append((page, count))
    return written


def _nbgrader_command(names):
    """``nbgrader DIR [NAME ...]``: write an nbgrader course folder."""
    if not names:
        print("usage: python tools/notebooks.py nbgrader DIR [NAME ...]")
        return 2
    for target in write_nbgrader_course(names[0], names[1:]):
        print(f"wrote {target}")
    print(f"then: cd {names[0]} && nbgrader generate_assignment 01_convolutions  # and so on")
    return 0


def _figures_command(names):
    """``figures DIR [NN ...]``: one page of figures per chosen notebook, for a review."""
    if not names:
        print("usage: python tools/notebooks.py figures DIR [NN ...]")
        return 2
    folder, chosen = names[0], names[1:]
    paths = [
        p for p in solved_notebooks() if not chosen or any(p.name.startswith(n) for n in chosen)
    ]
    if not paths:
        print(
            f"no solved notebook starts with {', '.join(chosen)}; they are "
            f"{', '.join(p.name[:2] for p in solved_notebooks())}."
        )
        return 2
    total = 0
    for page, count in figure_pages(folder, paths):
        print(f"wrote {page} ({count} figures)")
        total += count
    print(
        f"{total} figures; read each beside its words, then record the review in docs/figures.md."
    )
    return 0


def _retarget_command(names):
    """``retarget OWNER/NAME@REF``: point the course at a fork and a version."""
    if len(names) != 1:
        print(
            "usage: python tools/notebooks.py retarget OWNER/NAME@REF, such as "
            "myschool/nst-course@v2025.1 (see docs/publishing.md)",
            file=sys.stderr,
        )
        return 2
    try:
        repo, ref = parse_target(names[0])
        changed = retarget(repo, ref)
    except ValueError as err:
        print(f"retarget: {err}", file=sys.stderr)
        return 2
    for path in changed:
        if path.suffix != ".ipynb":
            print(f"rewrote {path.relative_to(ROOT)}")
    print(
        f"The course names {repo}@{ref}: check the changes (`git diff`), commit them, then "
        f"tag that commit `{ref}` and push both (docs/publishing.md)."
    )
    if re.fullmatch(r"[0-9a-f]{7,40}", ref):
        print(
            f"note: {ref} looks like a commit. A commit cannot name itself: the notebooks at "
            f"{ref} install what their own setup cells name. A tag pins both."
        )
    return 0


def _check_command():
    """``check``: exit status 1 if a notebook is not normalised or a student version is stale."""
    msgs = problems()
    print(
        "\n".join(msgs)
        or f"{len(solved_notebooks())} notebooks normalised, student versions up to date."
    )
    return 1 if msgs else 0


def main(argv):
    cmd, names = (argv[0] if argv else "check"), argv[1:]
    paths = [p for p in solved_notebooks() if not names or any(n in p.name for n in names)]
    if cmd == "build":
        write_all(paths, run=True)
    elif cmd == "normalise":
        write_all(paths, run=False)
    elif cmd == "nbgrader":
        return _nbgrader_command(names)
    elif cmd == "figures":
        return _figures_command(names)
    elif cmd == "retarget":
        return _retarget_command(names)
    elif cmd == "check":
        return _check_command()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
