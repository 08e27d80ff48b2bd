"""A sweep's folder: its ``sweep.json`` header, each run's folder read back, written and set aside.

Nothing here runs a run. A folder is checked before anything is written (:func:`check_out`); a
run's files are written all at once (:func:`write_run`), so that a run's folder is whole or
absent; a run's folder found damaged on resume is moved to ``OUT/.damaged/NAME/``.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import tempfile

import numpy as np
from PIL import Image

from ..config import StyleConfig
from ..errors import NSTError
from ..images import check_folder, save_image
from .records import DONE, read_report

__all__ = [
    "REPORT_KEYS",
    "fingerprint",
    "sweep_header",
    "check_out",
    "check_same_sweep",
    "open_folder",
    "image_problem",
    "run_state",
    "set_aside",
    "write_run",
]

#: What a finished run's report must hold for the sweep's figures and summaries.
REPORT_KEYS = ("stop_reason", "settings", "best_loss", "steps", "backbone", "loss_history")


def fingerprint(image: np.ndarray) -> str:
    """A short hash of an image's pixels and shape, to tell two sweeps' images apart."""
    return hashlib.sha256(image.tobytes() + str(image.shape).encode()).hexdigest()[:16]


def sweep_header(base: StyleConfig, content: np.ndarray, style: np.ndarray) -> dict:
    """What ``sweep.json`` records: the preset and the images' fingerprints and shapes."""
    header = {
        "config": base.to_dict(),
        "content": fingerprint(content),
        "style": fingerprint(style),
        "content_shape": list(content.shape),
        "style_shape": list(style.shape),
    }
    return json.loads(json.dumps(header))  # tuples as lists, as read back


def _read_header(out: pathlib.Path) -> dict:
    """The earlier sweep's ``OUT/sweep.json``, refused if it cannot be read or is not a record."""
    path = out / "sweep.json"
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        why = "not valid JSON" if isinstance(err, ValueError) else err.strerror or str(err)
        raise NSTError(
            f"{path}: cannot be read ({why}), so the sweep in {out} cannot be "
            "checked; move it away to start the sweep there again, or choose "
            "another folder."
        ) from None
    if not isinstance(old, dict):
        raise NSTError(
            f"{path}: is not a sweep's record (no settings in it); move it away "
            "or choose another folder."
        )
    return old


def _check_empty(out: pathlib.Path) -> None:
    """Refuse a folder that holds no sweep unless it is empty (hidden files aside)."""
    try:
        mine = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    except OSError as err:
        raise NSTError(f"{out}: cannot be read ({err.strerror or err}).") from None
    if mine:
        raise NSTError(
            f"{out}: is not empty ({mine[0]}{' and more' if len(mine) > 1 else ''}) "
            "and holds no sweep.json; choose an empty or new folder."
        )


def check_out(out: pathlib.Path) -> dict | None:
    """Check, writing nothing, that ``out`` can hold this sweep: a new folder that can be made, an
    empty folder, or an earlier sweep's (its ``sweep.json`` header is returned, else None)."""
    if out.is_symlink() and not out.exists():
        raise NSTError(
            f"{out}: is a link to nothing; give a new or empty folder, or an earlier sweep's."
        )
    if out.exists() and not out.is_dir():
        raise NSTError(
            f"{out}: is a file, not a folder; give a new or empty folder, or an earlier sweep's."
        )
    check_folder(out)  # the nearest existing folder is a folder that this process can write in
    if not out.is_dir():
        return None
    if (out / "sweep.json").exists():
        return _read_header(out)
    _check_empty(out)
    return None


def check_same_sweep(out: pathlib.Path, old: dict, header: dict) -> None:
    """Refuse to resume ``out`` when the sweep it holds was made with other images or preset."""
    differ = [k for k in header if old.get(k) != header[k]]
    if differ:
        raise NSTError(
            f"{out} holds a sweep with a different {', '.join(differ)}; resume it with the same "
            "images and preset, or choose another folder."
        )


def open_folder(out: pathlib.Path, header: dict) -> None:
    """Make ``out`` and write its ``sweep.json``, or check that it holds this sweep."""
    old = check_out(out)
    if old is not None:
        check_same_sweep(out, old, header)
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.json").write_text(json.dumps(header, indent=1))
    except OSError as err:
        raise NSTError(
            f"{out}: cannot be written ({err.strerror or err}); choose another folder."
        ) from None


def image_problem(path: pathlib.Path) -> str:
    """Why ``path`` is not a whole image ("" if it is one)."""
    if not path.is_file():
        return f"{path} is missing"
    try:
        with Image.open(path) as img:
            img.load()
    except Exception as err:  # truncated, not an image, unreadable: PIL raises several kinds
        return f"{path} is damaged ({str(err).strip().rstrip('.') or type(err).__name__})"
    return ""


def _report_problem(folder: pathlib.Path) -> tuple[str, dict | None]:
    """Why a run's ``report.json`` cannot be used (missing, not JSON, lacking a key), and it."""
    path = folder / "report.json"
    if not path.is_file():
        return f"{path} is missing", None
    report = read_report(folder)
    if report is None:
        return f"{path} is damaged (not valid JSON)", None
    missing = [k for k in REPORT_KEYS if k not in report]
    if missing:
        return f"{path} lacks {', '.join(missing)}", None
    return "", report


def run_state(folder: pathlib.Path, settings: dict) -> tuple[str, str, dict | None]:
    """``(state, why, report)`` of one run's folder: ``("new", "", None)``, ``("done", "",
    report)``, ``("again", why, report)`` (stopped before: its folder is replaced), or
    ``("damaged", why, None)`` (its files are moved aside, then it runs again)."""
    if not folder.exists() and not folder.is_symlink():
        return "new", "", None
    if not folder.is_dir():
        raise NSTError(
            f"{folder}: is a file where this sweep keeps the run {folder.name}; move it away."
        )
    problem, report = _report_problem(folder)
    if report is None:
        return "damaged", problem, None
    if report["settings"] != settings:
        raise NSTError(
            f"{folder} holds a run with other settings ({report['settings']}); move it away."
        )
    if report["stop_reason"] not in DONE:
        return "again", f"it stopped before ({report['stop_reason']})", report
    images = ["result.png"] + [f"step_{int(s):05d}.png" for s in report.get("snapshots") or ()]
    for image in images:
        problem = image_problem(folder / image)
        if problem:
            return "damaged", problem, None
    return "done", "", report


def set_aside(folder: pathlib.Path) -> pathlib.Path:
    """Move a damaged run's folder to ``OUT/.damaged/NAME`` (``NAME-2`` … if taken)."""
    place = folder.parent / ".damaged"
    try:
        place.mkdir(exist_ok=True)
        aside, n = place / folder.name, 1
        while aside.exists():
            n += 1
            aside = place / f"{folder.name}-{n}"
        folder.rename(aside)
    except OSError as err:
        raise NSTError(
            f"{folder}: its run must run again, but its files cannot be moved aside "
            f"({err.strerror or err}); move them away yourself."
        ) from None
    return aside


def write_run(folder: pathlib.Path, out: dict) -> pathlib.Path:
    """Write one run's files into ``folder`` all at once (a temporary folder, then a rename)."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        meta = {
            "backbone": out["report"]["backbone"],
            "nst_config": out["report"]["config"],
            "best_loss": out["report"]["best_loss"],
            "steps": out["report"]["steps"],
        }
        save_image(out["image"], tmp / "result.png", metadata=meta)
        for step, img in out["snapshots"].items():
            save_image(img, tmp / f"step_{step:05d}.png")
        (tmp / "report.json").write_text(json.dumps(out["report"], indent=1, allow_nan=False))
        if folder.is_dir() and not folder.is_symlink():  # an earlier interrupted or failed attempt
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
