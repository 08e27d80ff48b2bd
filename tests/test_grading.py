"""nst grade: a class's notebooks graded in fresh kernels, with the package's own checks.

One class is graded once for the module (notebooks 01-04, two at a time): a solved set, an
untouched student set, a classic mistake, two notebooks that tamper with the checks, one that
crashes its kernel; an endless loop is graded on its own with a short time limit. The course's
other graded notebooks (every one with an autograded test cell) are graded once more, solved and
untouched, so that each notebook's checks are known to run in the grader's kernel.
"""

import csv
import hashlib
import json
import pathlib
import re
import subprocess
import sys
import time

import pytest

pytest.importorskip("nbclient")

from nst_helpers import checks, grading  # noqa: E402
from nst_helpers.cli import main  # noqa: E402
from nst_helpers.errors import NSTError  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COURSE = ["01_convolutions", "02_vgg_features", "03_content_loss", "04_gram_matrices"]
#: Every course notebook that nst grade grades: those with an autograded test cell.
GRADED = sorted(grading.load_course())


def _nb(stem, student=False):
    return json.loads((NOTEBOOKS / ("student" if student else "") / f"{stem}.ipynb").read_text())


def _answer(nb, grade_id, source):
    """``nb`` with the source of its answer cell ``grade_id`` replaced."""
    cells = [
        c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id
    ]
    assert len(cells) == 1, grade_id
    cells[0]["source"] = source
    return nb


def _write(folder, name, nb):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(nb))


FLIPPED = """\
def conv2d(image, kernel, stride=1, padding=0):
    x = np.pad(np.asarray(image, dtype=float), padding)
    k = np.asarray(kernel)[::-1, ::-1]  # the classic mistake: a flipped kernel
    kh, kw = k.shape
    out = np.zeros(((x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i * stride:i * stride + kh, j * stride:j * stride + kw] * k)
    return out
"""

# Forges conv2d's reference values so that the flipped kernel is "expected", in every file named
# conv2d.npz it can reach, but never inside the course's checkout (should the grader's isolation
# fail, the test fails on the marker instead of changing a tracked file).
FORGE = """
import pathlib, numpy as np
def forge(path):
    path = pathlib.Path(path).resolve()
    if path.is_relative_to({root!r}):
        return
    ref = dict(np.load(path))
    for key in list(ref):
        if key.endswith(".expected"):
            ref[key] = ref[key[:-len("expected")] + "mistake.flipped"]
    np.savez(path, **ref)
"""


def _eve(root, marker):
    """Redefines the check, patches the checks module, forges the values it can see."""
    return (
        FLIPPED
        + FORGE.format(root=str(root))
        + f"""
pathlib.Path({str(marker)!r}).write_text(str(checks.data_dir()))
forge(checks.data_dir() / "conv2d.npz")
checks.CACHE.clear()
checks.check_conv2d = lambda fn: print("✔ conv2d is right (6 test cases).")
checks.common.is_close = lambda *args, **kwargs: True
checks.common.fail = lambda *args, **kwargs: None
"""
    )


def _frank(root):
    """Finds every copy of the reference values in the grader's folder and forges them; deletes
    its home and working folders."""
    return (
        FLIPPED
        + FORGE.format(root=str(root))
        + """
import os, shutil
for found in pathlib.Path.cwd().parent.rglob("conv2d.npz"):
    forge(found)
shutil.rmtree(os.path.expanduser("~"), ignore_errors=True)
for f in pathlib.Path.cwd().iterdir():
    shutil.rmtree(f, ignore_errors=True) if f.is_dir() else f.unlink()
"""
    )


def _reference_digests():
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in checks.data_dir().glob("*.npz")
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    subs = root / "submitted"
    for stem in COURSE:
        _write(subs / "alice", f"{stem}.ipynb", _nb(stem))  # solved
        _write(subs / "bob", f"{stem}.ipynb", _nb(stem, student=True))  # untouched
    sum_loss = _answer(
        _nb("04_gram_matrices"),
        "answer-style_loss",
        (
            "def style_loss(features, target_gram):\n"
            "    return tf.reduce_sum(tf.square(gram_matrix(features) - target_gram))\n"
        ),
    )
    _write(subs, "carol_04_gram_matrices.ipynb", sum_loss)
    marker = root / "eve-saw.txt"
    _write(
        subs / "eve",
        "01_convolutions.ipynb",
        _answer(_nb("01_convolutions", student=True), "answer-conv2d", _eve(ROOT, marker)),
    )
    _write(
        subs / "frank",
        "01_convolutions.ipynb",
        _answer(_nb("01_convolutions", student=True), "answer-conv2d", _frank(ROOT)),
    )
    crash = _answer(_nb("04_gram_matrices"), "answer-style_loss", "import os\nos._exit(1)\n")
    _write(subs / "grace", "04_gram_matrices.ipynb", crash)
    before = _reference_digests()
    out = root / "grades.csv"
    start = time.monotonic()
    rows = grading.grade([subs], out, timeout=300, jobs=2, verbose=False)
    seconds = time.monotonic() - start
    with out.open(newline="") as f:
        from_csv = list(csv.DictReader(f))
    return {
        "rows": {r["student"]: r for r in rows},
        "csv": from_csv,
        "seconds": seconds,
        "before": before,
        "after": _reference_digests(),
        "marker": marker,
    }


def _columns(row, prefix=""):
    return {k: v for k, v in row.items() if k[:2].isdigit() and k.startswith(prefix)}


def test_a_solved_notebook_scores_full_marks(graded):
    alice = graded["rows"]["alice"]
    assert set(_columns(alice).values()) == {"passed"}
    assert len(_columns(alice)) == 6  # conv2d, deprocess, content loss, Gram, two style losses
    assert alice["points"] == alice["out of"] == "6" and alice["notes"] == ""


def test_the_untouched_student_notebook_scores_zero_without_crashing_the_grader(graded):
    bob = graded["rows"]["bob"]
    assert set(_columns(bob).values()) == {"not attempted"}
    assert bob["points"] == "0" and bob["notes"] == ""


def test_one_classic_mistake_loses_exactly_that_exercise(graded):
    carol = _columns(graded["rows"]["carol"], "04")
    assert carol["04 gram_matrix (1 pt)"] == "passed"
    assert carol["04 style_loss_paper (1 pt)"] == "passed"
    assert carol["04 style_loss (1 pt)"].startswith("failed: style_loss is not right yet")
    assert "you summed the squared differences" in carol["04 style_loss (1 pt)"]  # the check's hint
    assert graded["rows"]["carol"]["points"] == "2"
    assert "01_convolutions: not submitted" in graded["rows"]["carol"]["notes"]


def test_redefining_the_checks_or_forging_their_values_gains_nothing(graded):
    eve = graded["rows"]["eve"]
    assert eve["01 conv2d (1 pt)"].startswith("failed: conv2d is not right yet")
    assert "you flipped the kernel" in eve["01 conv2d (1 pt)"]  # judged by the grader's values
    assert eve["points"] == "0"
    saw = pathlib.Path(graded["marker"].read_text()) if graded["marker"].exists() else None
    assert saw is None  # the kernel cannot write beside the class's files
    assert graded["after"] == graded["before"]


def test_finding_the_graders_own_copy_and_deleting_files_gains_nothing(graded):
    frank = graded["rows"]["frank"]
    assert frank["01 conv2d (1 pt)"].startswith("failed: conv2d is not right yet")
    assert "you flipped the kernel" in frank["01 conv2d (1 pt)"]
    assert frank["points"] == "0"
    assert graded["after"] == graded["before"]


def test_a_crashed_kernel_keeps_what_was_earned_before_it(graded):
    grace = graded["rows"]["grace"]
    assert grace["04 gram_matrix (1 pt)"] == "passed"
    assert grace["04 style_loss (1 pt)"].startswith("failed: its kernel died")
    assert grace["04 style_loss_paper (1 pt)"].startswith("failed: its kernel died")
    assert grace["points"] == "1" and "kernel died" in grace["notes"]


def test_the_csv_holds_one_row_per_student_and_a_total(graded):
    rows = graded["csv"]
    assert [r["student"] for r in rows] == ["alice", "bob", "carol", "eve", "frank", "grace"]
    assert list(rows[0])[0] == "student" and list(rows[0])[-3:] == ["points", "out of", "notes"]
    assert len(_columns(rows[0])) == 6
    assert {r["student"]: r["points"] for r in rows} == {
        "alice": "6",
        "bob": "0",
        "carol": "2",
        "eve": "0",
        "frank": "0",
        "grace": "1",
    }
    print(f"graded 10 notebooks in {graded['seconds']:.0f} s")


@pytest.fixture(scope="module")
def whole_course(tmp_path_factory):
    """The graded notebooks that the class above leaves out, solved and untouched, graded once."""
    subs = tmp_path_factory.mktemp("course")
    for stem in GRADED:
        if stem not in COURSE:
            _write(subs / "solved", f"{stem}.ipynb", _nb(stem))
            _write(subs / "untouched", f"{stem}.ipynb", _nb(stem, student=True))
    rows = grading.grade([subs], None, timeout=300, jobs=2, verbose=False)
    return {r["student"]: r for r in rows}


@pytest.mark.parametrize("stem", GRADED)
def test_every_graded_notebook_solved_scores_full_marks_and_untouched_zero(stem, request):
    """Each notebook's checks run in the grader's kernel: its solved version passes every one,
    its student version attempts none (notebook 09's checks once failed for everybody)."""
    if stem in COURSE:
        rows = request.getfixturevalue("graded")["rows"]
        solved, untouched = rows["alice"], rows["bob"]
    else:
        rows = request.getfixturevalue("whole_course")
        solved, untouched = rows["solved"], rows["untouched"]
    columns = [e.column for e in grading.exercises(_nb(stem, student=True), stem)]
    assert columns
    assert {c: solved[c] for c in columns} == dict.fromkeys(columns, "passed")
    assert {c: untouched[c] for c in columns} == dict.fromkeys(columns, "not attempted")
    assert solved["points"] == solved["out of"] and solved["notes"] == ""
    assert untouched["points"] == "0" and untouched["notes"] == ""


def test_an_endless_loop_is_stopped_at_its_time_limit_and_reported(tmp_path):
    loop = _answer(
        _nb("01_convolutions", student=True),
        "answer-conv2d",
        "def conv2d(image, kernel, stride=1, padding=0):\n    while True:\n        pass\n",
    )
    _write(tmp_path / "henry", "01_convolutions.ipynb", loop)
    start = time.monotonic()
    [henry] = grading.grade([tmp_path / "henry"], None, timeout=10, jobs=1, verbose=False)
    assert time.monotonic() - start < 10 + 90  # the limit, plus starting and stopping a kernel
    assert henry["01 conv2d (1 pt)"].startswith("failed: stopped at its 10 s time limit")
    assert "stopped at its 10 s time limit" in henry["notes"] and henry["points"] == "0"


# --------------------------------------------------------------------------------------------------
# Without kernels
# --------------------------------------------------------------------------------------------------


def test_students_are_named_by_file_or_folder(tmp_path):
    course = grading.load_course()
    paths = [
        tmp_path / "alice" / "03_content_loss.ipynb",
        tmp_path / "x" / "bob_03_content_loss.ipynb",
        tmp_path / "submitted" / "carol" / "03_content_loss" / "03_content_loss.ipynb",
        tmp_path / "mystery.ipynb",
    ]
    for p in paths[:3]:
        _write(p.parent, p.name, _nb("03_content_loss", student=True))
    renamed = _nb("02_vgg_features", student=True)  # recognised by its cells' nbgrader ids
    _write(tmp_path, "mystery.ipynb", renamed)
    subs = grading.find_submissions([tmp_path], course)
    assert sorted((s.student, s.notebook) for s in subs) == [
        ("alice", "03_content_loss"),
        ("bob", "03_content_loss"),
        ("carol", "03_content_loss"),
        ("mystery", "02_vgg_features"),
    ]
    _write(tmp_path / "alice", "alice_03_content_loss.ipynb", renamed)
    with pytest.raises(NSTError, match="alice submitted 03_content_loss twice"):
        grading.find_submissions([tmp_path], course)
    with pytest.raises(NSTError, match="no such file"):
        grading.find_submissions([tmp_path / "nope"], course)


def _check_calls(nb):
    """The names of the checks that ``nb``'s cells call, ``checks.check_conv2d(...)``: by cell
    index, for the cells that call one."""
    calls = {}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            names = re.findall(r"\bchecks\.(check_\w+)\s*\(", grading.cell_source(cell))
            if names:
                calls[i] = names
    return calls


def test_every_check_a_notebook_calls_is_in_the_graders_copy_of_the_checks(tmp_path):
    """What the grader's kernel calls, ``checks.check_*`` of a copy of nst_helpers.checks loaded
    on its own, exists for every check call of every notebook, and every notebook whose test cells
    call checks is graded."""
    import importlib.util
    import shutil

    shutil.copy2(checks.__file__, tmp_path / "checks.py")
    name = "nst_helpers._graded_checks_under_test"
    spec = importlib.util.spec_from_file_location(name, tmp_path / "checks.py")
    copy = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(copy)
        seen = set()
        for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
            nb = json.loads(path.read_text())
            for i, names in _check_calls(nb).items():
                for check in names:
                    assert check in checks.__all__, f"{path.name}, cell {i}: {check}"
                    assert callable(getattr(copy, check, None)), f"{path.name}, cell {i}: {check}"
                    seen.add(check)
            tests = [
                c
                for c in nb["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade")
                and not c["metadata"]["nbgrader"].get("solution")
            ]
            if any(_check_calls({"cells": tests}).values()):
                assert path.stem in GRADED, path.stem
        assert {"check_instance_norm", "check_residual_block"} <= seen
        assert "09_feedforward" in GRADED
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


def test_the_graded_notebook_runs_the_courses_cells_with_the_submissions_answers():
    course = _nb("04_gram_matrices", student=True)
    sub = _answer(
        _nb("04_gram_matrices", student=True),
        "answer-gram_matrix",
        "def gram_matrix(f):\n    return 1",
    )
    for cell in sub["cells"]:  # a changed course cell and a changed check never run
        if cell["cell_type"] == "code" and "import" in cell["source"]:
            cell["source"] = "checks = None"
        if "checks.check_gram_matrix" in cell["source"]:
            cell["source"] = "print('✔')"
    nb, verdicts, notes = grading.build_notebook(course, sub, "/x/io")
    sources = [c["source"] for c in nb["cells"]]
    assert "def gram_matrix(f):\n    return 1" in sources
    assert "checks = None" not in sources and "print('✔')" not in sources
    assert set(verdicts) == {"check-gram_matrix", "check-style_loss", "check-style_loss_paper"}
    for index, calls in verdicts.values():  # collecting cells only: no verdict in the kernel
        assert "record.collect('/x/io'" in sources[index] and "passed" not in sources[index]
        compile(sources[index], "collect", "exec")
    assert verdicts["check-style_loss_paper"][1][0][1:] == (
        "style_loss",
        "style_loss_paper",
        {"normalization": "paper"},
    )
    assert max(i for i, _ in verdicts.values()) == len(sources) - 1  # nothing after the last check
    assert notes == []


def test_cli_grades_into_a_csv_and_never_overwrites_it(tmp_path, capsys):
    (tmp_path / "dan").mkdir()
    (tmp_path / "dan" / "01_convolutions.ipynb").write_text("{not json")
    out = tmp_path / "grades.csv"
    assert main(["grade", str(tmp_path / "dan"), "--out", str(out), "-q"]) == 0
    [row] = list(csv.DictReader(out.open(newline="")))
    assert row["student"] == "dan" and row["01 conv2d (1 pt)"] == "not attempted"
    assert "not a notebook" in row["notes"] and row["points"] == "0"
    assert main(["grade", str(tmp_path / "dan"), "--out", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["grade", str(tmp_path / "dan"), "--out", str(out), "--force", "-q"]) == 0


def test_csv_cells_are_never_formulas(tmp_path):
    out = grading.write_csv(
        [{"student": "=HYPERLINK(1)", "points": "1", "out of": "1", "notes": ""}],
        tmp_path / "g.csv",
    )
    assert list(csv.DictReader(out.open(newline="")))[0]["student"] == "'=HYPERLINK(1)"


# --------------------------------------------------------------------------------------------------
# What grading needs, and a grader that cannot run: one line, exit 2, no table of zeros
# --------------------------------------------------------------------------------------------------


def _class_of_one(tmp_path):
    nb = _answer(_nb("01_convolutions", student=True), "answer-conv2d", FLIPPED)
    _write(tmp_path / "ann", "01_convolutions.ipynb", nb)
    return tmp_path / "ann"


@pytest.mark.parametrize("module", grading.EXTRA_MODULES)
def test_without_the_grade_extra_it_says_what_to_install_and_writes_nothing(
    tmp_path, capsys, monkeypatch, module
):
    """A package of the [grade] extra missing (as if never installed): one line, exit 2, no CSV."""
    monkeypatch.setitem(sys.modules, module, None)
    out = tmp_path / "grades.csv"
    assert main(["grade", str(_class_of_one(tmp_path)), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"nst: error: nst grade needs {module}, which the [grade] extra installs: pip install "
        f'"nst-helpers[grade]"; nothing was graded.'
    ]
    assert captured.out == "" and not out.exists()
    with pytest.raises(NSTError, match=r"\[grade\] extra"):  # the library function too
        grading.grade([tmp_path / "ann"], None, verbose=False)


def test_without_a_python3_kernel_it_says_what_to_install(tmp_path, capsys, monkeypatch):
    from jupyter_client import kernelspec

    def none(self, name):
        raise kernelspec.NoSuchKernel(name)

    monkeypatch.setattr(kernelspec.KernelSpecManager, "get_kernel_spec", none)
    out = tmp_path / "grades.csv"
    assert main(["grade", str(_class_of_one(tmp_path)), "--out", str(out)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "python3 Jupyter kernel" in line and 'pip install "nst-helpers[grade]"' in line
    assert not out.exists()


def test_the_extra_missing_in_a_real_python_process(tmp_path):
    """The real command in a Python where importing nbclient fails as an uninstalled one does."""
    out = tmp_path / "grades.csv"
    shim = (
        "import sys; sys.modules['nbclient'] = None\n"
        "from nst_helpers.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", shim, "grade", str(_class_of_one(tmp_path)), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "nst: error: nst grade needs nbclient, which the [grade] extra installs: pip install "
        '"nst-helpers[grade]"; nothing was graded.'
    ]
    assert not out.exists()


def _in_threads(monkeypatch, grade_one):
    """Grade in threads of this process, with ``grade_one`` standing in for the kernel's run."""
    import concurrent.futures as cf

    monkeypatch.setattr(grading, "process_pool", lambda jobs: cf.ThreadPoolExecutor(jobs))
    monkeypatch.setattr(grading, "grade_notebook", grade_one)


def test_a_grader_that_cannot_run_any_notebook_writes_no_table_of_zeros(
    tmp_path, capsys, monkeypatch
):
    def broken(job):
        raise ModuleNotFoundError("No module named 'nbformat'")  # as in a worker without it

    _in_threads(monkeypatch, broken)
    _write(tmp_path / "bob", "01_convolutions.ipynb", _nb("01_convolutions", student=True))
    _class_of_one(tmp_path)
    out = tmp_path / "grades.csv"
    assert (
        main(["grade", str(tmp_path / "ann"), str(tmp_path / "bob"), "--out", str(out), "-q"]) == 2
    )
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "nst: error: no notebook could be graded (the grader failed "
        "(ModuleNotFoundError: No module named 'nbformat'))"
    )
    assert "nothing was written" in line and not out.exists()


def test_a_notebook_the_grader_could_not_run_is_said_and_the_status_is_1(
    tmp_path, capsys, monkeypatch
):
    def some(job):
        if job.student == "bob":
            return {
                "student": "bob",
                "notebook": job.notebook,
                "grader_error": "the run failed (RuntimeError: kernel died before replying)",
                "results": {},
                "notes": ["the run failed (RuntimeError: kernel died before replying)"],
            }
        ids = [e.grade_id for e in grading.exercises(job.course_nb, job.notebook)]
        return {
            "student": job.student,
            "notebook": job.notebook,
            "notes": [],
            "results": {g: [grading.PASSED, ""] for g in ids},
        }

    _in_threads(monkeypatch, some)
    _write(tmp_path / "bob", "01_convolutions.ipynb", _nb("01_convolutions", student=True))
    _class_of_one(tmp_path)
    out = tmp_path / "grades.csv"
    assert (
        main(["grade", str(tmp_path / "ann"), str(tmp_path / "bob"), "--out", str(out), "-q"]) == 1
    )
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("nst: warning: the grader could not run some notebooks of bob")
    rows = {r["student"]: r for r in csv.DictReader(out.open(newline=""))}
    assert rows["ann"]["points"] == rows["ann"]["out of"] != "0"
    assert "the run failed" in rows["bob"]["notes"]


def test_notebooks_that_are_none_of_the_courses_are_refused(tmp_path, capsys):
    _write(
        tmp_path / "ann",
        "holiday.ipynb",
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
    )
    out = tmp_path / "grades.csv"
    assert main(["grade", str(tmp_path / "ann"), "--out", str(out)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "none of the 1 notebook given is one of the course's" in line and "--course" in line
    assert not out.exists()
