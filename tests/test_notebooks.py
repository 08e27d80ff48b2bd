"""The course notebooks: normalised, student versions up to date, and shaped as the course promises.

nbval runs the solved notebooks themselves (see pyproject.toml); these tests check their files.
"""

import importlib.util
import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("course_notebooks", ROOT / "tools" / "notebooks.py")
nbtool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbtool)

SOLVED = nbtool.solved_notebooks()
MAX_BYTES = 3 * 1024 * 1024
CHECK_CALL = re.compile(r"checks\.check_\w+\(")


def load(path):
    return json.loads(path.read_text())


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell):
    return nbtool._source(cell)


def test_there_are_notebooks():
    assert [p.name[:2] for p in SOLVED][:5] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_normalised_and_student_version_up_to_date(path):
    """What `python tools/notebooks.py check` reports about this notebook: nothing."""
    problems = [p for p in nbtool.problems() if p.startswith((path.name, f"student/{path.name}"))]
    assert problems == []


def test_no_student_version_without_a_solved_notebook():
    assert [p for p in nbtool.problems() if p.startswith("student/")] == []


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_anatomy(path):
    """Title, nav cell, learning objectives, exactly one setup cell, in that order."""
    cells = load(path)["cells"]
    assert cells[0]["cell_type"] == "markdown" and re.match(r"#\s+\S", source(cells[0]))
    assert cells[1]["cell_type"] == "markdown" and "nav" in nbtool._tags(cells[1])
    assert "colab-badge.svg" in source(cells[1])
    setup = [i for i, c in enumerate(cells) if "setup" in nbtool._tags(c)]
    assert len(setup) == 1 and cells[setup[0]]["cell_type"] == "code"
    assert source(cells[setup[0]]) == nbtool.SETUP
    assert any("## What you will learn" in source(c) for c in cells[2 : setup[0]]), (
        "learning objectives ('## What you will learn') belong before the setup cell"
    )
    # the setup cell is the first code cell: everything after it may use CI
    assert code_cells({"cells": cells})[0] is cells[setup[0]]


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_nbval_markers(path):
    """At least two cells whose output nbval really compares."""
    marked = [c for c in code_cells(load(path)) if "# NBVAL_CHECK_OUTPUT" in source(c)]
    assert len(marked) >= 2
    for cell in marked:
        assert cell["outputs"], f"a checked cell has no stored output:\n{source(cell)[:200]}"


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_executed_without_errors_and_small(path):
    nb = load(path)
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB"
    for cell in code_cells(nb):
        assert cell["execution_count"] is not None, f"not executed:\n{source(cell)[:200]}"
        for out in cell["outputs"]:
            assert out["output_type"] != "error", f"stored error in:\n{source(cell)[:200]}"
            assert "application/vnd.jupyter.widget-state+json" not in json.dumps(out)
    assert "widgets" not in nb["metadata"]


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_student_version_has_exercises_and_keeps_the_checks(path):
    solved = load(path)
    student = load(nbtool.STUDENT / path.name)
    n_solutions = sum(source(c).count("### BEGIN SOLUTION") for c in code_cells(solved))
    student_src = "\n".join(source(c) for c in code_cells(student))
    assert "### BEGIN SOLUTION" not in student_src and "### END SOLUTION" not in student_src
    assert student_src.count("raise NotImplementedError") >= n_solutions
    solved_checks = CHECK_CALL.findall("\n".join(source(c) for c in code_cells(solved)))
    assert CHECK_CALL.findall(student_src) == solved_checks
    assert all(not c["outputs"] and c["execution_count"] is None for c in code_cells(student))
    assert "NBVAL_" not in student_src
    nav = source(student["cells"][1])
    assert f"notebooks/student/{path.name}" in nav and "Solved version" not in nav
    solved_badge = re.search(
        r'<a href="([^"]+)"><img src="[^"]*colab-badge', source(load(path)["cells"][1])
    )
    assert solved_badge.group(1).endswith(f"/notebooks/{path.name}")  # the solved one opens itself
    assert student["metadata"]["accelerator"] == "GPU"


@pytest.mark.parametrize("name", ["01", "02", "03", "04"])
def test_course_notebooks_have_an_exercise_with_its_check(name):
    path = next(p for p in SOLVED if p.name.startswith(name))
    cells = code_cells(load(path))
    assert any("### BEGIN SOLUTION" in source(c) for c in cells)
    assert any(CHECK_CALL.search(source(c)) for c in cells)


def test_to_student_replaces_solutions():
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "outputs": [],
                "execution_count": 3,
                "source": "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n",
            },
            {
                "cell_type": "markdown",
                "metadata": {},
                "source": "Q?\n<!-- BEGIN SOLUTION -->\nA.\n<!-- END SOLUTION -->\n",
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    out = nbtool.to_student(nb, SOLVED[0])
    want = 'def f(x):\n    raise NotImplementedError("Write your solution here.")'
    assert out["cells"][0]["source"] == want
    assert out["cells"][0]["execution_count"] is None
    assert out["cells"][1]["source"] == "Q?"


def test_normalise_drops_tensorflow_start_up_lines_only():
    text = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795879440.904751   12897 port.cc:153] oneDNN custom operations are on.\n"
        "E0000 00:00:1795879457.246072   12991 cuda_platform.cc:52] failed call to cuInit: x\n"
        "UserWarning: something real\n"
    )
    out = nbtool._clean_outputs([{"output_type": "stream", "name": "stderr", "text": text}])
    assert out == [
        {"output_type": "stream", "name": "stderr", "text": "UserWarning: something real\n"}
    ]
    only_noise = [{"output_type": "stream", "name": "stderr", "text": text.rsplit("U", 1)[0]}]
    assert nbtool._clean_outputs(only_noise) == []


def test_normalise_drops_frozen_progress_bars_but_keeps_other_widgets_text():
    bar = {
        "output_type": "display_data",
        "metadata": {},
        "data": {
            "text/plain": "Adam [vgg16-hed]:   0%|          | 0/300 [00:00<?, ?step/s]",
            nbtool.WIDGET_MIME: {"model_id": "abc", "version_major": 2, "version_minor": 0},
        },
    }
    other = {
        "output_type": "display_data",
        "metadata": {},
        "data": {
            "text/plain": "<Explorer: run the notebook to see the controls>",
            nbtool.WIDGET_MIME: {"model_id": "def", "version_major": 2, "version_minor": 0},
        },
    }
    plain = {
        "output_type": "display_data",
        "metadata": {},
        "data": {"text/plain": "50%|#| 1/2 [x]"},
    }
    out = nbtool._clean_outputs([bar, other, plain])
    assert [o["data"] for o in out] == [
        {"text/plain": "<Explorer: run the notebook to see the controls>"},
        {"text/plain": "50%|#| 1/2 [x]"},
    ]


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_ends_with_questions_and_references(path):
    """A finished frame: questions to think about, then references with links."""
    cells = load(path)["cells"]
    questions, references = source(cells[-2]), source(cells[-1])
    assert questions.startswith("## Questions") and re.search(r"^1\. \S", questions, re.M)
    assert references.startswith("## References") and "](https://" in references


def _tiny_png():
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_figure_pages_put_each_figure_beside_its_words(tmp_path):
    """`figures` writes each stored image with the markdown above and below and the cell's comments."""
    md = lambda text: {"cell_type": "markdown", "metadata": {}, "source": text}  # noqa: E731
    png = _tiny_png()
    cells = [
        md("# A title"),
        md("The red square is bright."),
        {
            "cell_type": "code",
            "id": "fig",
            "metadata": {},
            "execution_count": 1,
            "source": "# NBVAL_IGNORE_OUTPUT\nshow(red)  # a patch around the left eye\n",
            "outputs": [
                {"output_type": "stream", "name": "stdout", "text": "loss 3.5\n"},
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {"image/png": png, "text/plain": "<Figure>"},
                },
            ],
        },
        md("Below: the square is red."),
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": 2,
            "source": "x = 1",
            "outputs": [],
        },
    ]
    nb_path = tmp_path / "nb" / "01_demo.ipynb"
    nb_path.parent.mkdir()
    nb_path.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    [(page, count)] = nbtool.figure_pages(tmp_path / "review", [nb_path])
    assert count == 1 and page == tmp_path / "review" / "01_demo.md"
    text = page.read_text()
    image = tmp_path / "review" / "01_demo" / "figure01.png"
    assert image.read_bytes()[:4] == b"\x89PNG"
    assert "](01_demo/figure01.png)" in text
    above, below = text.index("The red square is bright."), text.index("Below: the square is red.")
    assert above < text.index("figure01.png") < below
    assert "- a patch around the left eye" in text and "NBVAL" not in text
    assert "loss 3.5" in text


def test_figures_command_covers_every_solved_notebook(tmp_path, capsys):
    assert nbtool.main(["figures", str(tmp_path)]) == 0
    pages = sorted(p.name for p in tmp_path.glob("*.md"))
    assert pages == [p.stem + ".md" for p in SOLVED]
    stored = sum(
        1
        for p in SOLVED
        for c in code_cells(load(p))
        for o in c.get("outputs", [])
        for mime in nbtool.FIGURE_MIME
        if mime in o.get("data", {})
    )
    assert len(list(tmp_path.glob("*/figure*"))) == stored > 0
    assert nbtool.main(["figures", str(tmp_path), "99"]) == 2
    assert "no solved notebook starts with 99" in capsys.readouterr().out


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_summary_has_what_to_remember(path):
    """The summary ends the notebook's teaching with a short box of what to remember."""
    summary = [source(c) for c in load(path)["cells"] if "## Summary" in source(c)]
    assert len(summary) == 1, "one '## Summary' cell"
    box = summary[0][summary[0].index("## Summary") :]
    assert "> **What to remember**" in box
    bullets = re.findall(r"^> - ", box, re.M)
    assert 3 <= len(bullets) <= 6, f"{len(bullets)} bullets in the box; keep it to 3-6"


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_every_question_has_an_instructors_answer(path):
    """docs/answers/NN_name.md answers each end-of-notebook question; the student version has none."""
    [questions] = [source(c) for c in load(path)["cells"] if source(c).startswith("## Questions")]
    asked = re.findall(r"^(\d+)\. ", questions, re.M)
    key = ROOT / "docs" / "answers" / f"{path.stem}.md"
    assert key.exists(), f"no answer key {key.relative_to(ROOT)}"
    answered = re.findall(r"^\*\*(\d+)\. ", key.read_text(), re.M)
    assert asked and answered == asked, f"questions {asked}, answers {answered}"
    student = (nbtool.STUDENT / path.name).read_text()
    assert "docs/answers" not in student and "Answer key" not in student
