"""The notebook that a submission's kernel runs: the course's cells, the submission's answer cells,
and in place of each test cell a cell that only collects what the student's functions return."""

from __future__ import annotations

import ast

from ..errors import NSTError
from .submissions import cell_source, grading_metadata

__all__ = ["check_calls", "build_notebook"]

_COLLECT = """\
import nst_helpers.checks.record as __nst_record
__nst_record.collect({folder!r}, {key!r}, {check!r}, lambda: {fn}, {options!r})
del __nst_record"""
#: The kernel every built notebook names.
_KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def check_calls(source: str) -> list[tuple[str, str, dict]]:
    """The checks that a course's test cell calls, read from its source (never run):
    ``checks.check_style_loss(style_loss_paper, normalization="paper")`` gives
    ``[("style_loss", "style_loss_paper", {"normalization": "paper"})]``.

    Args:
        source: the test cell's source.

    Returns:
        ``(check, the student's function's name, keyword arguments)`` per call, in order.
    """
    # the checks' table: the checks' package, loaded only where a class is graded
    from ..checks import CHECKS

    calls: list[tuple[str, str, dict]] = []
    try:
        body = ast.parse(source).body
    except SyntaxError as err:
        raise NSTError(f"a test cell of the course is not Python ({err.msg}).") from None
    for stmt in body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id == "checks"
            and call.func.attr.removeprefix("check_") in CHECKS
            and len(call.args) == 1
            and isinstance(call.args[0], ast.Name)
        ):
            raise NSTError(
                f"the course's test cell {source.strip()[:80]!r} is not a list of "
                "checks.check_NAME(function, option=value) calls; the grader cannot "
                "judge it outside the kernel."
            )
        try:
            options = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        except ValueError:
            raise NSTError(
                f"the course's test cell {source.strip()[:80]!r} passes a check an "
                "option that is not a plain value."
            ) from None
        calls.append((call.func.attr.removeprefix("check_"), call.args[0].id, options))
    return calls


def _answer_in(submission: list, course_cell: dict) -> str | None:
    """The source of the submission's cell that answers ``course_cell``, or None."""
    gid, cid = grading_metadata(course_cell).get("grade_id"), course_cell.get("id")
    code = [c for c in submission if isinstance(c, dict) and c.get("cell_type") == "code"]
    for match in (
        lambda c: grading_metadata(c).get("grade_id") == gid,
        lambda c: cid is not None and c.get("id") == cid,
        lambda c: (
            cell_source(c).strip().splitlines()[:1]
            == cell_source(course_cell).strip().splitlines()[:1]
        ),
    ):
        found = [c for c in code if match(c)]
        if found:
            return cell_source(found[0])
    return None


def _graded_cells(course_nb: dict) -> list[dict]:
    """The course's code cells up to its last autograded test cell: the cells after it never run."""
    last = max(
        (i for i, c in enumerate(course_nb["cells"]) if grading_metadata(c).get("grade")),
        default=-1,
    )
    return [c for c in course_nb["cells"][: last + 1] if c.get("cell_type") == "code"]


def _keyed_calls(source: str, first: int) -> list[tuple[str, str, str, dict]]:
    """The checks a test cell calls (:func:`check_calls`), each with its key in the exchange
    folder: ``k0``, ``k1``... numbered across the notebook from ``first``."""
    return [
        (f"k{first + i}", check, fn, options)
        for i, (check, fn, options) in enumerate(check_calls(source))
    ]


def _collector(calls: list[tuple[str, str, str, dict]], folder: str) -> str:
    """The source of the cell that replaces a test cell: it only collects what the calls return."""
    return "\n".join(
        _COLLECT.format(folder=folder, key=k, check=c, fn=f, options=o) for k, c, f, o in calls
    )


def _code_cell(source: str) -> dict:
    """A code cell with ``source``, never run, no metadata."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": source,
    }


def build_notebook(course_nb: dict, submission: dict, folder: str) -> tuple[dict, dict, list[str]]:
    """The notebook the kernel runs: the course's cells, the submission's answers, and in place of
    each test cell a cell that only collects the answers (:func:`nst_helpers.checks.record.collect`).

    Args:
        course_nb: the course's student notebook.
        submission: the submitted notebook (untrusted; only its answer cells' sources are read).
        folder: the kernel's exchange folder (as the kernel sees it).

    Returns:
        ``(notebook, {grade_id: (cell index, [(key, check, function, options), ...])}, notes)``.
    """
    cells = submission.get("cells") if isinstance(submission, dict) else None
    cells = cells if isinstance(cells, list) else []
    out: list[dict] = []
    verdicts: dict[str, tuple[int, list[tuple[str, str, str, dict]]]] = {}
    notes: list[str] = []
    for cell in _graded_cells(course_nb):
        meta, src = grading_metadata(cell), cell_source(cell)
        if meta.get("solution"):
            answer = _answer_in(cells, cell)
            if answer is None:
                notes.append(f"no answer cell {meta.get('grade_id')}")
            src = src if answer is None else answer
        elif meta.get("grade"):
            calls = _keyed_calls(src, sum(len(v[1]) for v in verdicts.values()))
            verdicts[meta["grade_id"]] = (len(out), calls)
            src = _collector(calls, folder)
        out.append(_code_cell(src))
    metadata = {"kernelspec": dict(_KERNELSPEC)}
    nb = {"cells": out, "metadata": metadata, "nbformat": 4, "nbformat_minor": 4}
    return nb, verdicts, notes
