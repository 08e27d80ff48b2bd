"""Build, normalise and check the course notebooks.

    python tools/notebooks.py build [NAME ...]   # execute in full mode, normalise, write student versions
    python tools/notebooks.py normalise          # normalise only (no execution), write student versions
    python tools/notebooks.py check              # exit 1 if a notebook is not normalised or a student
                                                 # version is out of date (CI runs this through pytest)

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
#: Where the course lives on GitHub. A fork changes this line and runs ``normalise``.
REPO = "nst-course/nst-course"
BRANCH = "main"

SETUP = f'''\
# Setup, the same in every notebook. In Colab it installs the course package from its repository;
# Colab's own TensorFlow and ipywidgets are kept (the package asks only for lower bounds).
import os, subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "nst-helpers @ git+https://github.com/{REPO}@{BRANCH}"], check=True)
CI = os.environ.get("CI", "").lower() == "true"  # CI mode: tiny images, few steps'''

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
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)",
                      re.S | re.M)
#: nbval's markers; the student versions, which nbval does not run, go without them.
NBVAL_MARKER = re.compile(r"^[ \t]*# NBVAL_[A-Z_]+[ \t]*(?:\n|\Z)", re.M)
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->\n?", re.S)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


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
    parts = [f'<a href="{url}"><img src="https://colab.research.google.com/assets/colab-badge.svg" '
             f'alt="Open in Colab"/></a>']
    links = []
    if i > 0:
        links.append(f"← [{_title(books[i - 1])}]({books[i - 1].name})")
    if i + 1 < len(books):
        links.append(f"[{_title(books[i + 1])}]({books[i + 1].name}) →")
    if links:
        parts.append(" · ".join(links))
    if not student:
        parts.append(f"*Solved version. The exercises to fill in are in [student/{path.name}]"
                     f"(student/{path.name}) ([open it in Colab]({colab}student/{path.name})).*")
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
            text = "".join(line for line in text.splitlines(keepends=True) if not TF_NOISE.match(line))
            if not text.strip():
                continue
            o["text"] = text
        out.append(o)
    return out


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
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {})
        for key in ("execution", "collapsed", "scrolled", "jupyter", "ExecuteTime"):
            meta.pop(key, None)
        cell["metadata"] = meta
        cell["id"] = re.sub(r"[^A-Za-z0-9_-]", "-", cell.get("id") or f"cell-{i}")[:64]
        if "setup" in _tags(cell):
            cell["source"] = SETUP
        if "nav" in _tags(cell):
            cell["source"] = nav(path, student)
        if cell["cell_type"] == "code":
            if student:
                cell["outputs"], cell["execution_count"] = [], None
            else:
                cell["outputs"] = _clean_outputs(cell.get("outputs", []))
                if cell.get("execution_count") is not None:
                    count += 1
                    cell["execution_count"] = count
                    for o in cell["outputs"]:
                        if "execution_count" in o:
                            o["execution_count"] = count
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        src = _source(cell)
        cell["source"] = src
    return nb


def to_student(nb, path):
    """The student version of a solved notebook: answers replaced, outputs dropped."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        src = _source(cell)
        if cell["cell_type"] == "code":
            src = SOLUTION.sub(
                lambda m: f'{m.group(1)}raise NotImplementedError("Write your solution here.")\n', src
            )
            src = NBVAL_MARKER.sub("", src)
        else:
            src = MD_SOLUTION.sub("", src)
        cell["source"] = src.rstrip("\n") if src.strip() else src
    return normalise(nb, path, student=True)


def dumps(nb):
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def execute(path, timeout=1800):
    """Run a notebook top to bottom in a fresh ``python3`` kernel, in full mode (CI unset)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_ci = os.environ.pop("CI", None)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_ci is not None:
            os.environ["CI"] = env_ci
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
            out.append(f"{path.name}: needs exactly one code cell tagged 'setup' (has {len(setup)}).")
        student = STUDENT / path.name
        if not student.exists() or dumps(to_student(nb, path)) != student.read_text():
            out.append(f"{path.name}: student version missing or out of date; run "
                       "`python tools/notebooks.py normalise`.")
    for path in sorted(STUDENT.glob("*.ipynb")):
        if not (NOTEBOOKS / path.name).exists():
            out.append(f"student/{path.name}: has no solved notebook; delete it.")
    return out


def main(argv):
    cmd, names = (argv[0] if argv else "check"), argv[1:]
    paths = [p for p in solved_notebooks() if not names or any(n in p.name for n in names)]
    if cmd == "build":
        write_all(paths, run=True)
    elif cmd == "normalise":
        write_all(paths, run=False)
    elif cmd == "check":
        msgs = problems()
        print("\n".join(msgs) or f"{len(solved_notebooks())} notebooks normalised, student versions up to date.")
        return 1 if msgs else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
