"""A training run's checkpoints: written as it goes, checked before resuming, never deleted.

:func:`checkpoint_setup` decides, before the network is built, whether a checkpoint folder may be
used: a folder holding another run's checkpoints is refused unless the run resumes it (same
network, crops and painting) or starts again (the earlier files moved into ``earlier-N/``);
damaged checkpoints found when resuming are moved into ``damaged-N/``, and a note says so.
:class:`CheckpointWriter` then writes the run's checkpoints as it goes (and restores the one to
resume from).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from .._tf import Tensor, tf as _tf
from ..errors import NSTError
from ..images import PathLike, check_folder, write_new

if TYPE_CHECKING:
    import keras

    from .settings import TrainConfig

tf = _tf()

__all__ = [
    "RUN_FILE",
    "STATE_FILE",
    "DAMAGED",
    "EARLIER",
    "START_AGAIN",
    "run_record",
    "checkpoint_setup",
    "CheckpointWriter",
    "latest_step",
    "write_state",
]

#: The file in a checkpoint folder that records what the checkpoints belong to.
RUN_FILE = "training.json"


def _painting_hash(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


def run_record(config: TrainConfig, painting: np.ndarray, description: str) -> dict[str, Any]:
    """What a run's checkpoints belong to, as :data:`RUN_FILE` keeps it: the network's and the
    data's shape (:meth:`TrainConfig.architecture`), the painting (a hash), its name, the settings."""
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


def _note(text: str) -> None:
    """Say on stderr what was done to the user's files (always, whatever ``verbose``)."""
    print(f"Note: {text}", file=sys.stderr, flush=True)


def _checkpoint_files(folder: PathLike) -> dict[int, list[pathlib.Path]]:
    """``{step: [files]}``: the files of every checkpoint in ``folder`` (``ckpt-N.index``,
    ``ckpt-N.data-00000-of-00001`` …), found on disk, whatever the state file says."""
    found: dict[int, list[pathlib.Path]] = {}
    if pathlib.Path(folder).is_dir():
        for path in pathlib.Path(folder).iterdir():
            m = _CHECKPOINT_FILE.fullmatch(path.name)
            if m and path.is_file():
                found.setdefault(int(m.group(1)), []).append(path)
    return found


def _read_state(folder: PathLike) -> list[int]:
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


def _checkpoint_problem(folder: PathLike, step: int, files: list[pathlib.Path]) -> str | None:
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


def _set_aside(folder: PathLike, files: list[pathlib.Path], kind: str) -> pathlib.Path:
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


def write_state(folder: PathLike, steps: list[int]) -> None:
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


def checkpoint_setup(
    folder: PathLike,
    config: TrainConfig,
    painting: np.ndarray,
    description: str,
    resume: bool,
    force: bool,
) -> tuple[dict[str, Any] | None, str | None]:
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
    folder = _checked_folder(folder)
    found = _checkpoint_files(folder)
    try:
        listed, state_damaged = _read_state(folder), False
    except ValueError:
        listed, state_damaged = [], True
    if not resume:
        _start_again(folder, found, force)
        return None, None
    if not found:
        raise _nothing_to_resume(folder, listed)
    earlier = _earlier_record(folder / RUN_FILE)
    _check_same_run(folder, earlier, run_record(config, painting, description))
    chosen = _resume_point(folder, found, listed, state_damaged)
    return earlier, str(folder / f"ckpt-{chosen}")


def _checked_folder(folder: PathLike) -> pathlib.Path:
    """``folder`` as a path, refused if it is a file or if files could not be made in it."""
    path = pathlib.Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise NSTError(f"{path}: is a file, not a folder for checkpoints; give a folder.")
    check_folder(path)
    return path


def _up_to(found: dict[int, list[pathlib.Path]]) -> str:
    """`` (up to step N)``: the newest checkpoint on disk, for messages (``""`` if none)."""
    return f" (up to step {max(found)})" if found else ""


def _start_again(folder: pathlib.Path, found: dict[int, list[pathlib.Path]], force: bool) -> None:
    """Make way for a new run: a folder holding checkpoints is refused unless ``force``, and then
    its checkpoints, their list and the run's record are moved into ``earlier-N/``."""
    state_path, record_path = folder / STATE_FILE, folder / RUN_FILE
    if not found and not state_path.exists():
        return
    newest = _up_to(found)
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


def _nothing_to_resume(folder: pathlib.Path, listed: list[int]) -> NSTError:
    """The refusal to resume from a folder with no checkpoint on disk."""
    missing = (
        f" (its list names ckpt-{', ckpt-'.join(map(str, listed))}, which are missing)"
        if listed
        else ""
    )
    return NSTError(
        f"{folder}: holds no checkpoint to resume from{missing}; drop resume "
        "(--resume) to start training."
    )


def _earlier_record(record_path: pathlib.Path) -> dict[str, Any]:
    """The earlier run's :func:`run_record`, read from ``record_path``."""
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
    return earlier


def _check_same_run(folder: pathlib.Path, earlier: dict[str, Any], now: dict[str, Any]) -> None:
    """Refuse to resume checkpoints of another network or data shape, or another painting."""
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


def _newest_whole(
    folder: pathlib.Path, found: dict[int, list[pathlib.Path]]
) -> tuple[int, list[int], list[str]]:
    """``(step, damaged, reasons)``: the newest checkpoint that reads back whole, the newer ones
    that do not, and what is wrong with each; refused if none reads back."""
    damaged: list[int] = []
    reasons: list[str] = []
    for step in sorted(found, reverse=True):
        problem = _checkpoint_problem(folder, step, found[step])
        if problem is None:
            return step, damaged, reasons
        damaged.append(step)
        reasons.append(f"ckpt-{step}: {problem}")
    raise NSTError(
        f"{folder}: no checkpoint there can be resumed from ({'; '.join(reasons)}); "
        "nothing was changed. Put back a copy, " + START_AGAIN
    )


def _resume_point(
    folder: pathlib.Path,
    found: dict[int, list[pathlib.Path]],
    listed: list[int],
    state_damaged: bool,
) -> int:
    """The step to resume from: the newest checkpoint that reads back whole. Newer damaged ones,
    and a damaged list of checkpoints, are moved into ``damaged-N/``; the list is written again
    where it is wrong; a note says what was found and done."""
    chosen, damaged, reasons = _newest_whole(folder, found)
    aside = [p for step in damaged for p in found[step]]
    if state_damaged:
        aside.append(folder / STATE_FILE)
        reasons.append(f"its list of checkpoints, {STATE_FILE}, is damaged")
    gone = [s for s in listed if s > chosen and s not in found]
    if gone:
        reasons.append(
            f"ckpt-{', ckpt-'.join(map(str, gone))}, named in its list, "
            f"{'is' if len(gone) == 1 else 'are'} missing"
        )
    if aside:
        reasons.append(f"the damaged files were moved to {_set_aside(folder, aside, DAMAGED)}")
    if not listed or listed[0] != chosen or aside or gone:
        write_state(folder, sorted(s for s in found if s not in damaged))
    if reasons:
        _note(f"resuming from step {chosen} in {folder}: {'; '.join(reasons)}.")
    return chosen


class CheckpointWriter:
    """Writes a training run's checkpoints into its folder as the run goes: the network, the
    optimiser's state and the step (TensorFlow's checkpoint manager, the newest two kept).

    Made after :func:`checkpoint_setup`: it makes the folder, restores the checkpoint to resume
    from (refused if it does not fit the network) and writes the run's record, :data:`RUN_FILE`.

    Args:
        folder: the checkpoint folder.
        model, optimizer: the network and its optimiser (built, so that its state exists).
        step: the run's step, a ``tf.Variable`` that the training step counts up.
        resume_from: the checkpoint to restore (from :func:`checkpoint_setup`), or None.
        record: the run's :func:`run_record`.
        verbose: say which step the run resumes from.
    """

    def __init__(
        self,
        folder: PathLike,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        step: Tensor,
        resume_from: str | None,
        record: dict[str, Any],
        verbose: bool,
    ) -> None:
        self.folder = pathlib.Path(folder).expanduser()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.step = step
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
        self.manager = tf.train.CheckpointManager(
            checkpoint, str(self.folder), max_to_keep=2, checkpoint_name="ckpt", step_counter=step
        )
        self.saved: int | None = None  # the step last written; the one resumed from is on disk
        if resume_from is not None:
            self._restore(checkpoint, resume_from)
            self.saved = int(step.numpy())
            if verbose:
                print(f"Resuming from step {self.saved} ({resume_from}).")
        data = (json.dumps(record, indent=1) + "\n").encode()
        write_new(self.folder / RUN_FILE, data, force=True)

    def _restore(self, checkpoint: Any, resume_from: str) -> None:
        """Read the network, optimiser state and step back from ``resume_from``."""
        try:
            checkpoint.restore(resume_from).assert_existing_objects_matched()
        except Exception as err:  # noqa: BLE001 - shapes or names that do not match
            first = (str(err).splitlines() or [""])[0][:160]
            raise NSTError(
                f"{resume_from}: does not fit this network ({first}); resume with "
                f"the settings it was trained with ({self.folder / RUN_FILE}), " + START_AGAIN
            ) from None

    @property
    def latest(self) -> str | None:
        """The newest checkpoint written, or None."""
        return self.manager.latest_checkpoint

    def save(self) -> str | None:
        """Write a checkpoint of the current step, unless it is on disk already; return the
        newest checkpoint."""
        if int(self.step.numpy()) != self.saved:
            self.manager.save(checkpoint_number=self.step)
            # only once written: Ctrl-C while writing writes again
            self.saved = int(self.step.numpy())
        return self.manager.latest_checkpoint


def latest_step(checkpoint_dir: PathLike) -> int | None:
    """The step of the newest checkpoint in ``checkpoint_dir``, or None if there is none."""
    latest = tf.train.latest_checkpoint(str(pathlib.Path(checkpoint_dir).expanduser()))
    return None if latest is None else int(latest.rsplit("-", 1)[-1])
