"""nst grade against hostile notebooks: the verdicts are the grader's, each submission runs in a
sandbox, and what a notebook does to the grader, its classmates or the package gains nothing.

One class is graded once for the module in the sandbox (bubblewrap), and two notebooks once more
without it (``NST_GRADE_SANDBOX=none``), where the grader must still end what they started and
notice what they changed.
"""

import csv
import hashlib
import json
import os
import pathlib
import shutil
import time

import numpy as np
import pytest

pytest.importorskip("nbclient")

from test_grading import _answer, _nb  # noqa: E402  (the same notebook helpers)

from nst_helpers import checks, grading  # noqa: E402
from nst_helpers.checks import record  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
#: Without bubblewrap the sandbox's tests skip, unless ``NST_REQUIRE_SANDBOX=1`` (as in CI), which
#: makes a missing or broken sandbox an error instead of a quiet skip.
NO_SANDBOX = grading.sandbox_mode()[0] != "bwrap"
if NO_SANDBOX and os.environ.get("NST_REQUIRE_SANDBOX") == "1":
    raise RuntimeError(
        "bubblewrap cannot make a sandbox here, and NST_REQUIRE_SANDBOX=1: "
        "apt-get install bubblewrap"
    )
needs_bwrap = pytest.mark.skipif(NO_SANDBOX, reason="bubblewrap cannot make a sandbox here")


def _write(path, nb):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


def _conv(source):
    return _answer(_nb("01_convolutions", student=True), "answer-conv2d", source)


# The attack that gave full marks when the kernel printed its own verdict: every two-element list
# dumped as JSON reads ["passed", ""].
JSON_DUMPS = """\
import json
_dumps = json.dumps
json.dumps = lambda v, *a, **k: _dumps(["passed", ""] if isinstance(v, list) and len(v) == 2 else v, *a, **k)
"""

# A forged verdict line for every token it can find, and a check that always says it passed.
FORGED_LINE = """\
for name in list(globals()):
    print(f"NST-GRADE-{name} " + '["passed", ""]')
print('NST-GRADE-0000000000000000 ["passed", ""]')
checks.check_conv2d = lambda fn: print("✔ conv2d is right (6 test cases).")
"""

# Returns the stored expected answer of whichever stored case has the same inputs.
REPLAY = """\
import numpy as np
_ref = dict(np.load(checks.data_dir() / "conv2d.npz"))
def conv2d(image, kernel, stride=1, padding=0):
    for i in range(int(_ref["n_cases"])):
        if np.array_equal(_ref[f"c{i}.in.image"], image) and np.array_equal(_ref[f"c{i}.in.kernel"], kernel):
            return _ref[f"c{i}.expected"]
    return _ref["c0.expected"]
"""


def _vandal(targets, marker):
    """Tries to write every path in ``targets`` (never inside the checkout), to read the grader's
    folders, and leaves a detached process behind whose command line carries ``marker``."""
    return f"""\
import os, pathlib, subprocess, sys
for t in {[str(t) for t in targets]!r} + [checks.__file__]:
    p = pathlib.Path(t).resolve()
    if p.is_relative_to({str(ROOT)!r}):
        continue
    try:
        with open(p, "a") as f:
            f.write("# changed by a submission\\n")
    except OSError:
        pass
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", {marker!r}],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""


def _alive(marker):
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if marker.encode() in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


def _sha(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    subs = root / "class"
    honest = _write(subs / "alice" / "01_convolutions.ipynb", _nb("01_convolutions"))
    _write(subs / "bob" / "01_convolutions.ipynb", _nb("01_convolutions", student=True))
    _write(
        subs / "mallory" / "04_gram_matrices.ipynb",
        _answer(_nb("04_gram_matrices", student=True), "answer-gram_matrix", JSON_DUMPS),
    )
    _write(subs / "forger" / "01_convolutions.ipynb", _conv(FORGED_LINE))
    _write(subs / "replayer" / "01_convolutions.ipynb", _conv(REPLAY))
    out = root / "grades.csv"
    outside = root / "outside.txt"
    marker = f"nst-detached-{os.getpid()}-{time.monotonic_ns()}"
    _write(
        subs / "vandal" / "01_convolutions.ipynb",
        _conv(_vandal([honest, out, outside, root / "grades.csv.new"], marker)),
    )
    older = _write(subs / "carl_01_convolutions.ipynb", _nb("01_convolutions", student=True))
    os.utime(older, (time.time() - 3600, time.time() - 3600))
    _write(subs / "carl_01_convolutions (1).ipynb", _nb("01_convolutions"))
    honest_digest = _sha(honest)
    package = grading.digest_files(grading.package_files())
    rows = grading.grade([subs], out, timeout=300, jobs=2, verbose=False)
    with out.open(newline="") as f:
        from_csv = {r["student"]: r for r in csv.DictReader(f)}
    return {
        "rows": {r["student"]: r for r in rows},
        "csv": from_csv,
        "root": root,
        "marker": marker,
        "outside": outside,
        "honest": honest,
        "honest_digest": honest_digest,
        "package": package,
    }


@needs_bwrap
def test_the_honest_notebook_scores_full_marks_and_the_untouched_one_zero(hostile):
    rows = hostile["rows"]
    assert rows["alice"]["01 conv2d (1 pt)"] == "passed" and rows["alice"]["points"] == "1"
    assert rows["bob"]["01 conv2d (1 pt)"] == "not attempted" and rows["bob"]["points"] == "0"


@needs_bwrap
def test_replacing_json_dumps_in_the_kernel_gains_nothing(hostile):
    mallory = hostile["rows"]["mallory"]
    assert mallory["points"] == "0"
    assert "passed" not in [v for k, v in mallory.items() if k.startswith("04 ")]


@needs_bwrap
def test_a_forged_verdict_line_or_a_replaced_check_gains_nothing(hostile):
    forger = hostile["rows"]["forger"]
    assert forger["points"] == "0"
    assert forger["01 conv2d (1 pt)"].startswith("failed: NameError")  # no conv2d was written


@needs_bwrap
def test_the_stored_reference_answers_do_not_pass_on_fresh_inputs(hostile):
    replayer = hostile["rows"]["replayer"]
    assert replayer["points"] == "0"
    assert replayer["01 conv2d (1 pt)"].startswith("failed: conv2d is not right yet")


@needs_bwrap
def test_writing_outside_the_sandbox_changes_nothing_and_gains_nothing(hostile):
    assert hostile["rows"]["vandal"]["points"] == "0"
    assert _sha(hostile["honest"]) == hostile["honest_digest"]  # a classmate's submission
    assert not hostile["outside"].exists() and not (hostile["root"] / "grades.csv.new").exists()
    assert "changed by a submission" not in (hostile["root"] / "grades.csv").read_text()
    assert grading.digest_files(grading.package_files()) == hostile["package"]
    assert hostile["rows"]["alice"]["points"] == "1"


@needs_bwrap
def test_a_detached_process_does_not_outlive_the_grading(hostile):
    assert _alive(hostile["marker"]) == []


@needs_bwrap
def test_a_browsers_duplicate_download_is_the_same_student_and_the_newest_counts(hostile):
    rows = hostile["rows"]
    assert "carl" in rows and not any("(1)" in s for s in rows)
    assert rows["carl"]["points"] == "1"  # the newer copy is the solved one
    assert "took the newest of 2 copies, carl_01_convolutions (1).ipynb" in rows["carl"]["notes"]


@needs_bwrap
def test_the_csv_is_complete_and_no_temporary_file_is_left(hostile):
    assert set(hostile["csv"]) == set(hostile["rows"])
    assert [p.name for p in hostile["root"].iterdir() if p.name.startswith(".grades")] == []


def test_without_a_sandbox_the_grader_ends_detached_processes_and_reports_changes(
    tmp_path, monkeypatch, capsys
):
    """The fallback: no bubblewrap (forced). A warning says what is not isolated; a detached
    process is ended; a change to the kernel's package copy costs the points and is reported."""
    monkeypatch.setenv("NST_GRADE_SANDBOX", "none")
    marker = f"nst-detached-{os.getpid()}-{time.monotonic_ns()}"
    solved = [
        c
        for c in _nb("01_convolutions")["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade_id") == "answer-conv2d"
    ][0]
    source = "".join(solved["source"]) + "\n" + _vandal([], marker)
    _write(tmp_path / "vic" / "01_convolutions.ipynb", _conv(source))
    [vic] = grading.grade([tmp_path / "vic"], None, timeout=300, jobs=1, verbose=False)
    err = capsys.readouterr().err
    assert "NOT isolated" in err and "NST_GRADE_SANDBOX=none" in err
    assert _alive(marker) == []
    assert vic["points"] == "0"
    assert "changed files outside its sandbox (pkg/nst_helpers/checks/__init__.py)" in vic["notes"]
    assert "left 1 process running after it ended" in vic["notes"]


@pytest.mark.parametrize("sandbox", ["bwrap", "none"])
def test_a_kernel_that_ends_python_is_reported_at_once(tmp_path, monkeypatch, sandbox):
    """``os._exit`` in an answer cell: the run ends within seconds, not at the time limit (a
    blocking kernel client once waited for the dead kernel's next message for ever)."""
    if sandbox == "bwrap" and NO_SANDBOX:
        pytest.skip("bubblewrap cannot make a sandbox here")
    if sandbox == "none":
        monkeypatch.setenv("NST_GRADE_SANDBOX", "none")
    _write(tmp_path / "ida" / "01_convolutions.ipynb", _conv("import os\nos._exit(1)\n"))
    start = time.monotonic()
    [ida] = grading.grade([tmp_path / "ida"], None, timeout=300, jobs=1, verbose=False)
    assert time.monotonic() - start < 150  # far below the 300 s limit: a kernel's start and end
    assert ida["01 conv2d (1 pt)"].startswith("failed: its kernel died")
    assert "kernel died" in ida["notes"] and ida["points"] == "0"


# --------------------------------------------------------------------------------------------------
# Without kernels: what comes back from a kernel is hostile data
# --------------------------------------------------------------------------------------------------


def test_malformed_records_are_refused_in_one_line(tmp_path):
    (tmp_path / "k0.json").write_text('[{"kind": "value", "value": {"array": "../../etc/passwd"}}]')
    with pytest.raises(record.Malformed, match="not one collect writes"):
        record.read_records(tmp_path, "k0")
    (tmp_path / "k1.json").write_text('[{"kind": "value", "value": {"array": "p0a0"}}]')
    np.save(tmp_path / "k1.p0a0.npy", np.array(["text"]))
    with pytest.raises(record.Malformed, match="not numeric"):
        record.read_records(tmp_path, "k1")
    (tmp_path / "k2.json").write_text("x" * (record.MAX_JSON_BYTES + 1))
    with pytest.raises(record.Malformed, match="over 1 MB"):
        record.read_records(tmp_path, "k2")
    assert record.read_records(tmp_path, "nothing") is None


def test_numbers_come_back_as_numbers_not_one_element_arrays():
    """A list of Python floats (the Adam loop's losses) comes back as 0-d arrays, which ``float``
    takes (a 1-element array it refuses under NumPy 2)."""
    arrays = {}
    spec = record._encode((np.zeros((2, 3), np.float32), [1.5, 2.5]), arrays)
    image, losses = record._decode(
        record._renamed(spec, "p0"), {f"p0{k}": v for k, v in arrays.items()}
    )
    assert image.shape == (2, 3) and [float(v) for v in losses] == [1.5, 2.5]


def test_pickled_arrays_are_never_loaded(tmp_path):
    (tmp_path / "k.json").write_text('[{"kind": "value", "value": {"array": "p0a0"}}]')
    np.save(tmp_path / "k.p0a0.npy", np.array([object()], dtype=object), allow_pickle=True)
    with pytest.raises(record.Malformed, match="not a plain .npy file"):
        record.read_records(tmp_path, "k")


def test_the_kernel_gets_inputs_never_expected_values():
    arrays = record.fresh_reference("gram_matrix", [1, 2, 3, 4])
    shown = record.inputs_only(arrays)
    assert shown and all(k == "n_cases" or ".in." in k for k in shown)
    assert any(".expected" in k for k in arrays)
    other = record.fresh_reference("gram_matrix", [5, 6, 7, 8])
    stored = dict(np.load(checks.data_dir() / "gram_matrix.npz"))
    assert not np.array_equal(arrays["c0.in.features"], other["c0.in.features"])
    assert not np.array_equal(arrays["c0.in.features"], stored["c0.in.features"])


def test_a_course_test_cell_is_read_as_calls_never_run():
    assert grading.check_calls(
        'checks.check_style_loss(style_loss_paper, normalization="paper")'
    ) == [("style_loss", "style_loss_paper", {"normalization": "paper"})]
    for bad in ("import os", "checks.check_nothing(f)", "checks.check_conv2d(f())"):
        with pytest.raises(grading.NSTError, match="test cell"):
            grading.check_calls(bad)


def test_duplicates_other_than_a_browsers_copy_are_still_refused(tmp_path):
    course = grading.load_course()
    _write(tmp_path / "ann_01_convolutions.ipynb", _nb("01_convolutions", student=True))
    _write(tmp_path / "ann_01_convolutions (2).ipynb", _nb("01_convolutions", student=True))
    [sub] = grading.find_submissions([tmp_path], course)
    assert sub.student == "ann" and len(sub.copies) == 1
    shutil.copy(tmp_path / "ann_01_convolutions.ipynb", tmp_path / "ann-01_convolutions-v2.ipynb")
    with pytest.raises(grading.NSTError, match="twice"):
        grading.find_submissions([tmp_path], course)
