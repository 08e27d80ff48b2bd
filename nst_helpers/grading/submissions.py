"""The course and the submissions: which course notebooks are graded and how much each exercise is
worth, which notebook a submitted file answers, and whose it is."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
from typing import Iterable

from ..errors import NSTError
from .common import MAX_BYTES, ROOT

__all__ = [
    "Exercise",
    "Submission",
    "cell_source",
    "grading_metadata",
    "load_course",
    "exercises",
    "find_submissions",
]


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


def cell_source(cell: dict) -> str:
    """A notebook cell's source as one string (nbformat keeps it as a string or a list of lines).

    Args:
        cell: the cell, as a dict (untrusted: any value of ``source`` is turned into text).

    Returns:
        Its source.
    """
    src = cell.get("source", "")
    return "".join(str(s) for s in src) if isinstance(src, list) else str(src)


def grading_metadata(cell: dict) -> dict:
    """A notebook cell's nbgrader metadata (``grade_id``, ``grade``, ``solution``, ``points``).

    Args:
        cell: the cell, as a dict (untrusted: metadata that is not a dict counts as none).

    Returns:
        The metadata, or ``{}`` when the cell has none.
    """
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
    folder = pathlib.Path(folder) if folder is not None else ROOT / "notebooks" / "student"
    if not folder.is_dir():
        raise NSTError(
            f"{folder}: no course notebooks there; pass --course DIR, the folder of the "
            "course's student notebooks (notebooks/student in a checkout of the course)."
        )
    course = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise NSTError(f"{path}: not a readable notebook ({err}).") from None
        if exercises(nb, path.stem):
            course[path.stem] = nb
    if not course:
        raise NSTError(
            f"{folder}: no notebook there has an autograded test cell (nbgrader "
            "metadata); run `python tools/notebooks.py normalise` in the course's checkout."
        )
    return course


def exercises(nb: dict, stem: str) -> list[Exercise]:
    """The autograded test cells of course notebook ``nb`` (named ``stem``), in order."""
    out = []
    for cell in nb.get("cells", []):
        meta = grading_metadata(cell)
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
    copies: list[pathlib.Path] = dataclasses.field(default_factory=list)  # older "(1)" copies


#: A browser's mark of a second download of the same file: ``alice_01_convolutions (1)``.
_COPY = re.compile(r"\s*\(\d+\)$")


def find_submissions(
    paths: Iterable[str | os.PathLike], course: dict[str, dict]
) -> list[Submission]:
    """The notebooks among ``paths`` (files, or folders searched recursively), matched to the course.

    Args:
        paths: notebook files and folders of them.
        course: the course, from :func:`load_course`.

    Returns:
        One :class:`Submission` per notebook file, sorted by student then notebook.
    """
    files: list[pathlib.Path] = []
    for p in map(pathlib.Path, paths):
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in f.parts and f.is_file()
            )
            if not found:
                raise NSTError(f"{p}: no notebook (.ipynb) in this folder.")
            files += found
        elif p.is_file():
            if p.suffix != ".ipynb":
                raise NSTError(f"{p}: not a notebook (.ipynb); pass notebooks or folders of them.")
            files.append(p)
        else:
            raise NSTError(f"{p}: no such file or folder.")
    subs: list[Submission] = []
    seen: dict[tuple[str, str | None], Submission] = {}
    for f in dict.fromkeys(files):
        sub = _identify(f, course)
        key = (sub.student, sub.notebook)
        if sub.notebook is not None and key in seen:
            other = seen[key]
            if _COPY.sub("", other.path.stem) != _COPY.sub("", f.stem):
                raise NSTError(
                    f"{sub.student} submitted {sub.notebook} twice ({other.path} and "
                    f"{f}); keep one of them."
                )
            # a browser's second download, "name (1).ipynb": the newest one counts
            copies = other.copies + [f]
            newest = max(copies + [other.path], key=lambda p: (p.stat().st_mtime, str(p)))
            sub = dataclasses.replace(
                sub, path=newest, copies=[p for p in [other.path, *copies] if p != newest]
            )
            subs[subs.index(other)] = sub
        else:
            subs.append(sub)
        seen[key] = sub
    return sorted(subs, key=lambda s: (s.student, s.notebook or ""))


def _identify(path: pathlib.Path, course: dict[str, dict]) -> Submission:
    stem = _COPY.sub("", path.stem)
    named = [c for c in course if c in stem]
    notebook = named[0] if len(named) == 1 else None
    if notebook is None:  # by the nbgrader ids of its cells
        try:
            cells = json.loads(path.read_bytes()[:MAX_BYTES]).get("cells", [])
            ids = {
                str(grading_metadata(c).get("grade_id")) for c in cells if isinstance(c, dict)
            } - {"None"}
        except (OSError, ValueError, AttributeError):
            ids = set()
        scores = {
            c: len(ids & {str(grading_metadata(x).get("grade_id")) for x in nb["cells"]})
            for c, nb in course.items()
        }
        best = max(scores, key=lambda c: scores[c], default=None)
        notebook = best if best is not None and scores[best] > 0 else None
    problem = (
        None
        if notebook
        else (
            "could not tell which course notebook this is (name it like "
            f"{next(iter(course))}.ipynb)"
        )
    )
    return Submission(path, _student_of(path, notebook, course), notebook, problem)


def _student_of(path: pathlib.Path, notebook: str | None, course: dict[str, dict]) -> str:
    """``alice`` from nbgrader's ``submitted/alice/ASSIGNMENT/NOTEBOOK.ipynb``, from
    ``alice_03_content_loss.ipynb``, ``alice/03_content_loss.ipynb`` or ``alice.ipynb``."""
    parts = path.resolve().parts[:-1]
    if "submitted" in parts[:-1]:
        return parts[len(parts) - parts[::-1].index("submitted")]
    stem = _COPY.sub("", path.stem)
    if notebook and notebook in stem:
        # what precedes the notebook's name: "ann_01_convolutions-v2" is ann's
        name = re.sub(r"^[\W_]+|[\W_]+$", "", stem.partition(notebook)[0])
        if name:
            return name
        for name in reversed(parts):
            if name not in course:
                return name
    return stem
