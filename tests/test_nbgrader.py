"""The solved notebooks are nbgrader sources, and nbgrader releases the student versions."""

import importlib.util
import json
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course_notebooks", ROOT / "tools" / "notebooks.py")
nbtool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbtool)

SOLVED = nbtool.solved_notebooks()


def _grading(cell):
    return cell["metadata"].get("nbgrader")


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_every_exercise_and_check_is_an_nbgrader_cell(path):
    """Each solution is an answer cell, each check cell a locked test cell with points."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    ids = [_grading(c)["grade_id"] for c in cells if _grading(c)]
    assert len(ids) == len(set(ids))
    for cell in cells:
        src, meta = nbtool._source(cell), _grading(cell)
        if "### BEGIN SOLUTION" in src:
            assert meta and meta["solution"] and not meta["grade"]
            assert meta["grade_id"].startswith("answer-")
        elif nbtool.CHECK_OF.search(src):
            assert meta and meta["grade"] and meta["locked"] and not meta["solution"]
            assert meta["points"] == len(nbtool.CHECK_OF.findall(src)) > 0
        else:
            assert meta is None


def test_metadata_names_the_exercise_and_keeps_points_set_by_hand():
    answer = {
        "cell_type": "code",
        "metadata": {},
        "source": "def gram(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n",
    }
    check = {
        "cell_type": "code",
        "metadata": {"nbgrader": {"grade": True, "points": 5}},
        "source": "checks.check_gram_matrix(gram)\nchecks.check_style_loss(loss, 'paper')",
    }
    assignment = {
        "cell_type": "code",
        "metadata": {},
        "source": "x = 1\n### BEGIN SOLUTION\nmy_grid = [x]\n### END SOLUTION\n",
    }
    taken = set()
    assert nbtool.nbgrader_metadata(answer, taken)["grade_id"] == "answer-gram"
    meta = nbtool.nbgrader_metadata(check, taken)
    assert (meta["grade_id"], meta["points"], meta["locked"]) == ("check-gram-loss", 5, True)
    check["metadata"] = {}
    assert nbtool.nbgrader_metadata(check, taken)["points"] == 2
    assert nbtool.nbgrader_metadata(check, taken)["grade_id"] == "check-gram-loss-3"  # unique
    assert nbtool.nbgrader_metadata(assignment, taken)["grade_id"] == "answer-my_grid"
    assert (
        nbtool.nbgrader_metadata({"cell_type": "code", "metadata": {}, "source": "x = 1"}, taken)
        is None
    )


def test_student_versions_pass_nbgraders_own_validation():
    """nbgrader's schema, and its checksums, accept the student versions."""
    pytest.importorskip("nbgrader")
    import nbformat
    from nbgrader.nbgraderformat import MetadataValidator
    from nbgrader.utils import compute_checksum

    for path in SOLVED:
        nb = nbformat.read(nbtool.STUDENT / path.name, as_version=4)
        MetadataValidator().validate_nb(nb)
        graded = [c for c in nb.cells if "nbgrader" in c.metadata]
        assert graded
        for cell in graded:
            assert cell.metadata.nbgrader.checksum == compute_checksum(cell)


def test_nbgrader_generate_assignment_gives_the_student_versions(tmp_path):
    """`nbgrader generate_assignment` on the course folder the tool writes releases, after the
    course's normalisation, exactly the notebooks of notebooks/student/."""
    pytest.importorskip("nbgrader")
    nbgrader = shutil.which(
        "nbgrader", path=str(pathlib.Path(sys.executable).parent)
    ) or shutil.which("nbgrader")
    assert nbgrader, "nbgrader is installed but its command is not on PATH"
    written = nbtool.write_nbgrader_course(tmp_path)
    assert [p.name for p in written] == [p.name for p in SOLVED]
    run = subprocess.run(
        [nbgrader, "generate_assignment", "*", "--no-db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    for path in SOLVED:
        released = json.loads((tmp_path / "release" / path.stem / path.name).read_text())
        assert (
            nbtool.dumps(nbtool.normalise(released, path, student=True))
            == (nbtool.STUDENT / path.name).read_text()
        )
