"""A training run's checkpoints: written as it goes, checked before resuming, never deleted.

:func:`checkpoint_setup` decides, before the network is built, whether a checkpoint folder may be
used: a folder holding another run's checkpoints is refused unless the run resumes it (same
network, crops and painting) or starts again (the earlier files moved into ``earlier-N/``);
damaged checkpoints found when resuming are moved into ``damaged-N/``, and a note says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import sys

import numpy as np

from .._tf import tf as _tf
from ..errors import NSTError
from ..images import check_folder, write_new

tf = _tf()

__all__ = [
    "RUN_FILE",
    "STATE_FILE",
    "DAMAGED",
    "EARLIER",
    "START_AGAIN",
    "run_record",
    "checkpoint_setup",
    "latest_step",
]

#: The file in a checkpoint folder that records what the checkpoints belong to.
RUN_FILE = "training.json"


def _painting_hash(image):
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


def run_record(config, painting, description):
    return {
        "architecture": {
            k: list(v) if isinstance(v, tuple) else v for k, v in config.architecture().items()
        },
        "painting": _painting_hash(painting),
        "style": description,
        "config": config.to_dict(),
    }


#: Subfolders of a checkpoint folder that files are moved into instead of being deleted: damaged
#: checkpoints found when resuming (``damaged-1``, ``damaged-2`` …), and an earlier run's
#: checkpoints when training starts again with ``force`` (``earlier-1`` …).
DAMAGED, EARLIER = "damaged", "earlier"
#: The file that TensorFlow's checkpoint manager keeps the names of the newest checkpoints in.
STATE_FILE = "checkpoint"
_CHECKPOINT_FILE = re.compile(r"ckpt-(\d+)\.(?:index|data-(\d+)-of-(\d+))")


def _note(text):
    """Say on stderr what was done to the user's files (always, whatever ``verbose``)."""
    print(f"Note: {text}", file=sys.stderr, flush=True)


def _checkpoint_files(folder):
    """``{step: [files]}``: the files of every checkpoint in ``folder`` (``ckpt-N.index``,
    ``ckpt-N.data-00000-of-00001`` …), found on disk, whatever the state file says."""
    found: dict[int, list[pathlib.Path]] = {}
    if pathlib.Path(folder).is_dir():
        for path in pathlib.Path(folder).iterdir():
            m = _CHECKPOINT_FILE.fullmatch(path.name)
            if m and path.is_file():
                found.setdefault(int(m.group(1)), []).append(path)
    return found


def _read_state(folder):
    """The steps that ``folder/checkpoint`` names, newest first (``[]`` if there is no such file).

    Raises:
        ValueError: the file is there but damaged (not the text TensorFlow writes).
    """
    path = pathlib.Path(folder) / STATE_FILE
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(str(err)) from None
    lines = [line for line in text.splitlines() if line.strip()]
    found = [re.fullmatch(r'\s*(\w+)\s*:\s*("[^"]*"|[-+\d.eE]+)\s*', line) for line in lines]
    pairs = [m for m in found if m is not None]
    if not pairs or len(pairs) != len(found):
        raise ValueError("not a checkpoint list")
    named = [
        m.group(2).strip('"')
        for m in pairs
        if m.group(1).endswith("model_checkpoint_path")
        or m.group(1) == "all_model_checkpoint_paths"
    ]
    matched = [re.fullmatch(r"ckpt-(\d+)", pathlib.Path(name).name) for name in named]
    steps = [m for m in matched if m is not None]
    if not named or len(steps) != len(matched):
        raise ValueError("names no checkpoint")
    return sorted({int(m.group(1)) for m in steps}, reverse=True)


def _checkpoint_problem(folder, step, files):
    """Why checkpoint ``step`` cannot be resumed from (a few words), or None: every file there and
    every value in it reads back (TensorFlow checks each value's checksum)."""
    names = {p.name for p in files}
    if f"ckpt-{step}.index" not in names:
        return "its .index file is missing"
    shards = [m for m in (_CHECKPOINT_FILE.fullmatch(n) for n in names if ".data-" in n) if m]
    counts = {int(m.group(3)) for m in shards}
    if (
        not shards
        or len(counts) != 1
        or {int(m.group(2)) for m in shards} != set(range(counts.pop()))
    ):
        return "its data file is missing"
    try:
        reader = tf.train.load_checkpoint(str(pathlib.Path(folder) / f"ckpt-{step}"))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as err:  # noqa: BLE001 - TensorFlow raises OpError, IndexError … for bad files
        first = (str(err).splitlines() or [""])[0].replace(str(folder) + os.sep, "")[:100]
        return f"truncated or damaged ({first or type(err).__name__})"
    return None


def _set_aside(folder, files, kind):
    """Move ``files`` into a new subfolder ``folder/KIND-N``; return that subfolder."""
    n = 1
    while True:
        target = pathlib.Path(folder) / f"{kind}-{n}"
        try:
            target.mkdir()
            break
        except FileExistsError:
            n += 1
        except OSError as err:
            raise NSTError(
                f"{target}: cannot be made to keep {len(files)} file(s) aside "
                f"({err.strerror or err}); nothing was moved or deleted."
            ) from None
    for path in files:
        try:
            os.replace(path, target / path.name)
        except OSError as err:
            raise NSTError(
                f"{path}: cannot be moved to {target} ({err.strerror or err}); nothing was deleted."
            ) from None
    return target


def _write_state(folder, steps):
    """Write ``folder/checkpoint`` naming ``steps`` (the last one newest), as TensorFlow would."""
    lines = [f'model_checkpoint_path: "ckpt-{steps[-1]}"']
    lines += [f'all_model_checkpoint_paths: "ckpt-{s}"' for s in steps]
    write_new(pathlib.Path(folder) / STATE_FILE, ("\n".join(lines) + "\n").encode(), force=True)


#: How each setting of :meth:`TrainConfig.architecture` is given on the command line.
_ARCHITECTURE_OPTIONS = {
    "filters": "--filters",
    "residual_blocks": "--blocks",
    "skip": "--no-skip",
    "size": "--size",
    "batch_size": "--batch-size",
}
#: The advice that ends every refusal to resume.
START_AGAIN = (
    "or start again: pass force=True (--force) and drop resume (--resume) (the "
    "checkpoints are then moved aside, not deleted)."
)


def checkpoint_setup(folder, config, painting, description, resume, force):
    """Check the checkpoint folder before training; return ``(record, checkpoint)``: the folder's
    record of the earlier run and the checkpoint to resume from, or ``(None, None)`` to start.

    Nothing there is ever deleted. A folder holding another run's checkpoints is refused unless
    ``resume`` (same network, crops and painting) or ``force`` (start again: the earlier files are
    moved into ``earlier-N/``). Resuming takes the newest checkpoint that reads back whole; newer
    ones that are truncated or damaged, and a damaged list of checkpoints, are moved into
    ``damaged-N/``, and a note on stderr says so. Where no checkpoint can be resumed from, or the
    checkpoints belong to another network or painting, nothing is changed and :class:`NSTError`
    says what to do.
    """
    folder = pathlib.Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NSTError(f"{folder}: is a file, not a folder for checkpoints; give a folder.")
    check_folder(folder)
    found = _checkpoint_files(folder)
    state_path, record_path = folder / STATE_FILE, folder / RUN_FILE
    try:
        listed, state_damaged = _read_state(folder), False
    except ValueError:
        listed, state_damaged = [], True
    newest = f" (up to step {max(found)})" if found else ""
    if not resume:
        if not found and not state_path.exists():
            return None, None
        if not force:
            raise NSTError(
                f"{folder}: already holds checkpoints of a training run{newest}; pass "
                "resume=True (--resume) to continue it, or force=True (--force) to "
                "start again (they are then moved aside, not deleted)."
            )
        files = [p for step in sorted(found) for p in found[step]]
        files += [p for p in (state_path, record_path) if p.is_file()]
        moved = _set_aside(folder, files, EARLIER)
        _note(
            f"{folder} held an earlier run's checkpoints{newest}; starting again, they were "
            f"moved to {moved} (move them back into {folder} to resume that run)."
        )
        return None, None
    if not found:
        missing = (
            f" (its list names ckpt-{', ckpt-'.join(map(str, listed))}, which are missing)"
            if listed
            else ""
        )
        raise NSTError(
            f"{folder}: holds no checkpoint to resume from{missing}; drop resume "
            "(--resume) to start training."
        )
    earlier: dict
    try:
        earlier = json.loads(record_path.read_text(encoding="utf-8"))
        if not isinstance(earlier, dict):
            raise ValueError
    except (OSError, ValueError):
        raise NSTError(
            f"{record_path}: missing or unreadable, so the checkpoints beside it cannot "
            f"be checked against this run (network, painting); restore it from a copy, "
            + START_AGAIN
        ) from None
    now = run_record(config, painting, description)
    recorded = earlier.get("architecture")
    then: dict = recorded if isinstance(recorded, dict) else {}
    differ = [k for k in now["architecture"] if then.get(k) != now["architecture"][k]]
    if differ:
        k = differ[0]
        raise NSTError(
            f"{folder}: its checkpoints have {k} {then.get(k)}, not "
            f"{now['architecture'][k]}; resume with the same {k} "
            f"({_ARCHITECTURE_OPTIONS[k]}), " + START_AGAIN
        )
    if earlier.get("painting") != now["painting"]:
        raise NSTError(
            f"{folder}: its checkpoints were trained on another painting "
            f"({earlier.get('style', '?')}); resume with that one, " + START_AGAIN
        )
    damaged, reasons, chosen = [], [], None
    for step in sorted(found, reverse=True):
        problem = _checkpoint_problem(folder, step, found[step])
        if problem is None:
            chosen = step
            break
        damaged.append(step)
        reasons.append(f"ckpt-{step}: {problem}")
    if chosen is None:
        raise NSTError(
            f"{folder}: no checkpoint there can be resumed from ({'; '.join(reasons)}); "
            "nothing was changed. Put back a copy, " + START_AGAIN
        )
    aside = [p for step in damaged for p in found[step]]
    if state_damaged:
        aside.append(state_path)
        reasons.append(f"its list of checkpoints, {STATE_FILE}, is damaged")
    gone = [s for s in listed if s > chosen and s not in found]
    if gone:
        reasons.append(
            f"ckpt-{', ckpt-'.join(map(str, gone))}, named in its list, "
            f"{'is' if len(gone) == 1 else 'are'} missing"
        )
    if aside:
        reasons.append(f"the damaged files were moved to {_set_aside(folder, aside, DAMAGED)}")
    keep = sorted(s for s in found if s not in damaged)
    if not listed or listed[0] != chosen or aside or gone:
        _write_state(folder, keep)
    if reasons:
        _note(f"resuming from step {chosen} in {folder}: {'; '.join(reasons)}.")
    return earlier, str(folder / f"ckpt-{chosen}")


def latest_step(checkpoint_dir):
    """The step of the newest checkpoint in ``checkpoint_dir``, or None if there is none."""
    latest = tf.train.latest_checkpoint(str(pathlib.Path(checkpoint_dir).expanduser()))
    return None if latest is None else int(latest.rsplit("-", 1)[-1])
