"""The class's table: one row per student, one column per exercise, the points and the notes, and
the CSV file it is written to (atomically, never over an existing file unless asked)."""

from __future__ import annotations

import csv
import os
import pathlib
import tempfile

from ..errors import NSTError
from .common import FAILED, NOT_ATTEMPTED, PASSED
from .submissions import exercises

__all__ = ["check_out", "table", "write_csv"]


def check_out(out: pathlib.Path, force: bool) -> None:
    """Raise :class:`NSTError` in one line unless the CSV file ``out`` can be written: a file, not
    there yet (unless ``force``), in a folder that exists and this user may write in.

    Args:
        out: the CSV file to write.
        force: whether an existing file may be replaced.
    """
    if out.is_dir():
        raise NSTError(f"{out} is a folder; --out needs a file name such as grades.csv.")
    if out.exists() and not force:
        raise NSTError(f"{out} exists; pass --force to replace it, or choose another --out.")
    if not out.parent.is_dir():
        raise NSTError(f"{out.parent}: no such folder for --out.")
    if not os.access(out.parent, os.W_OK):
        raise NSTError(f"{out.parent}: cannot write there; choose another --out.")


def table(results: list[dict], course_nbs: dict[str, dict]) -> list[dict]:
    """One row per student from the per-notebook results: a column per exercise, points, notes.

    Args:
        results: the per-notebook results (:func:`nst_helpers.grading.grade_notebook`'s).
        course_nbs: the course, from :func:`nst_helpers.grading.load_course`.

    Returns:
        The rows, one dict per student: ``{"student", column: status..., "points", "out of",
        "notes"}``.
    """
    stems = sorted({r["notebook"] for r in results if r["notebook"]})
    exs = [e for stem in stems for e in exercises(course_nbs[stem], stem)]
    rows: dict[str, dict] = {}
    for r in sorted(results, key=lambda r: (r["student"], r["notebook"] or "")):
        row = rows.setdefault(r["student"], {"student": r["student"], "_notes": [], "_seen": set()})
        row["_seen"].add(r["notebook"])
        for gid, (status, detail) in r["results"].items():
            row[(r["notebook"], gid)] = status if status != FAILED else f"{FAILED}: {detail}"
        row["_notes"] += [
            n if n.startswith(str(r["notebook"])) or not r["notebook"] else f"{r['notebook']}: {n}"
            for n in r["notes"]
        ]
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
        flat.update(
            {
                "points": f"{points:g}",
                "out of": f"{sum(e.points for e in exs):g}",
                "notes": "; ".join(notes),
            }
        )
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
    tmp = None
    try:
        with tempfile.NamedTemporaryFile(
            "w",
            newline="",
            encoding="utf-8",
            dir=out.parent,
            prefix=f".{out.name}.",
            suffix=".tmp",
            delete=False,
        ) as f:
            tmp = pathlib.Path(f.name)
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(row.get(k, "")) for k in fields})
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, out)
        else:
            os.link(tmp, out)  # never replaces a file that appeared meanwhile
    except FileExistsError:
        raise NSTError(f"{out} appeared while grading; pass --force to replace it.") from None
    except OSError as err:
        raise NSTError(f"{out}: cannot write it ({err.strerror}).") from None
    finally:
        if tmp is not None:  # gone after a replace; a second name of the file after a link
            tmp.unlink(missing_ok=True)
    return out
