"""The loop that every optimisation of the library runs on: an image's pixels or a network's weights.

:func:`nst_helpers.optimize.stylize` (Adam and L-BFGS on the pixels) and
:func:`nst_helpers.feedforward.train` (Adam on a network's weights) share one :class:`Loop`: the loss
history, the *boundaries* at which a run looks up from optimising (callbacks with a small progress
dataclass, stop requests, frames, checkpoints, a time limit), the one divergence rule and its
message, and the one place where Ctrl-C (and SIGTERM, which ``nst`` turns into Ctrl-C) ends a run
with its best result kept.

Also here: tracing a ``tf.function`` once without leaking TensorFlow's gradient registry
(:func:`trace`), the progress bar, and standard JSON for reports (:func:`finite_json`).
"""

from __future__ import annotations

import math
import pathlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .errors import NSTError
from .images import check_folder, from_vgg, save_image

__all__ = [
    "LOSS_NAMES",
    "EXPLODE",
    "StopRun",
    "LoopStop",
    "Progress",
    "Loop",
    "diverged",
    "divergence_message",
    "not_finite",
    "finite_json",
    "progress_bar",
    "trace",
    "forget_custom_gradients",
    "frame_path",
    "check_frames_dir",
]

#: The loss terms every run records, weighted, one value per step each.
LOSS_NAMES = ("total", "content", "style", "tv")


class StopRun(Exception):
    """Raise from a callback to end a run early; the best result so far is kept."""


class LoopStop(Exception):
    """Ends a run from inside the loop, with the reason (stopped, diverged, time limit, …) and,
    where the reason needs one, the message that says why."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.message = message


@dataclass
class Progress:
    """What a :func:`~nst_helpers.optimize.stylize` callback sees every ``callback_every`` steps."""

    step: int
    steps: int
    losses: dict
    elapsed: float
    best_loss: float
    _x: object = field(repr=False, default=None)

    def image(self) -> np.ndarray:
        """The current image as ``uint8`` RGB (converted only when asked for)."""
        return from_vgg(self._x)

    @property
    def seconds_left(self) -> float:
        return self.elapsed / max(self.step, 1) * (self.steps - self.step)


# --- the divergence rule ----------------------------------------------------------------------------

#: A run has diverged when its loss is NaN or infinite, or was above this many times its starting
#: value at two or more of the last ``PATIENCE`` evaluations. The image is clipped to real pixels,
#: so at a sane learning rate the loss never climbs far above where it started, while a far too
#: large one throws it that high again and again (or to NaN); one L-BFGS line-search probe that
#: rises is not a divergence. A network's training loss starts high (the photographs' style loss)
#: and falls, so the same rule serves it.
EXPLODE = 20.0
PATIENCE = 5


def diverged(values: list[float]) -> bool:
    """The one divergence rule of every run (see :data:`EXPLODE`)."""
    if not values:
        return False
    if not math.isfinite(values[-1]):
        return True
    first = values[0]
    return first > 0 and sum(v > EXPLODE * first for v in values[-PATIENCE:]) >= 2


def not_finite(value: float) -> str | None:
    """``"NaN"`` or ``"infinite"`` for a non-finite number, else ``None``."""
    return "NaN" if math.isnan(value) else None if math.isfinite(value) else "infinite"


#: Which setting weights each loss term, to name it in messages.
_WEIGHTS = {"content": "content_weight", "style": "style_weight", "tv": "tv_weight"}


def _start_cause(history: dict, cfg: Any) -> str | None:
    """Why the loss of the starting point is NaN or infinite, from its terms; None when finite.

    No step has been taken yet, so the learning rate cannot be the cause: an infinite term means
    its weight lifts it past float32's range (3.4e38); a NaN term with no infinite one means an
    input (an image or a mask) gives NaN.
    """
    if not history["total"] or not_finite(history["total"][0]) is None:
        return None
    terms = {k: history[k][0] for k in _WEIGHTS if history[k]}
    infinite = [k for k, v in terms.items() if not_finite(v) == "infinite"]
    if infinite:
        names = " and ".join(f"{_WEIGHTS[k]}={getattr(cfg, _WEIGHTS[k]):g}" for k in infinite)
        return (
            f"the {' and '.join(infinite)} loss of the starting image is already infinite "
            f"(beyond float32's 3.4e38): {names} is too large; lower it by several "
            "orders of magnitude."
        )
    nan = [k for k, v in terms.items() if not_finite(v) == "NaN"] or ["total"]
    return (
        f"the {' and '.join(nan)} loss of the starting image is already NaN with finite "
        "weights: an input gives NaN; check the images and masks (and the weights' values)."
    )


def divergence_message(step: int, cfg: Any, history: dict) -> str:
    """What ended a diverged run, and what to change, from the numbers in ``history``.

    Args:
        step: the step at which the run stopped.
        cfg: the run's settings (a :class:`~nst_helpers.config.StyleConfig` or a training
            config): its weights, its ``learning_rate`` and, where it has one, its ``optimizer``.
        history: the run's loss history (:data:`LOSS_NAMES`).
    """
    cause = _start_cause(history, cfg)
    if cause is not None:
        return f"The loss was {not_finite(history['total'][0])} before the first step: {cause}"
    kind = next((not_finite(v) for v in history["total"] if not_finite(v)), None)
    what = f"became {kind}" if kind else f"grew to {EXPLODE:g} times its start"
    if getattr(cfg, "optimizer", "adam") == "lbfgs":
        advice = "lower the style or content weight, or use optimizer='adam'."
    else:
        advice = f"learning_rate={cfg.learning_rate:g} is too large: try {cfg.learning_rate / 4:g}."
    return f"The loss {what} at step {step}; {advice}"


# --- reports, frames, progress, tracing -------------------------------------------------------------


def finite_json(data: dict) -> dict:
    """``data`` with every NaN or infinite float replaced by ``None``, and the reason recorded.

    JSON has no NaN or Infinity (Python writes them, but ``jq`` and JavaScript reject the file), so
    each such value becomes ``null`` and ``data["not_finite"]`` maps its key to ``"NaN"`` or
    ``"infinite"`` (for a list, how many of its values were not finite).
    """
    reasons = {}

    def clean(value: Any, key: str) -> Any:
        if isinstance(value, float) and not_finite(value):
            reasons[key] = not_finite(value)
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{key}.{k}" if key else k) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            bad = sum(isinstance(v, float) and not_finite(v) is not None for v in value)
            out = [None if isinstance(v, float) and not_finite(v) else clean(v, key) for v in value]
            if bad:
                reasons[key] = f"{bad} of {len(value)} values NaN or infinite"
            return out
        return value

    out = clean(data, "")
    if reasons:
        out["not_finite"] = reasons
    return out


def frame_path(frames_dir: str | pathlib.Path, step: int) -> pathlib.Path:
    """Where the frame of ``step`` goes in ``frames_dir``: ``frame_00050.png``."""
    return pathlib.Path(frames_dir).expanduser() / f"frame_{int(step):05d}.png"


def check_frames_dir(
    frames_dir: str | pathlib.Path, frames_every: int | None, steps: int, force: bool = False
) -> pathlib.Path:
    """Raise :class:`NSTError` now if the run's frames could not go to ``frames_dir`` later.

    Refused, in one line: a path that is a file (or lies under one), a folder that cannot be
    written, and, without ``force``, a folder already holding a frame this run would write
    (``frame_00005.png`` …), so that no earlier run's frames are replaced.

    Args:
        frames_dir: the folder for the frames (made if missing).
        frames_every: a frame every this many steps (None: no frames will be written).
        steps: the run's steps.
        force: replace existing frames of the same names.
    """
    folder = pathlib.Path(frames_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NSTError(f"{folder}: is a file, not a folder for the frames; give a folder.")
    check_folder(folder)
    if force or not frames_every or not folder.is_dir():
        return folder
    taken = [
        p.name
        for p in (frame_path(folder, k) for k in range(frames_every, int(steps) + 1, frames_every))
        if p.exists()
    ]
    if taken:
        more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
        raise NSTError(
            f"{folder}: already holds {taken[0]}{more}, which this run would write; "
            "choose another folder or pass force=True (--force)."
        )
    return folder


def progress_bar(total: int, desc: str, enabled: bool, unit: str = "step") -> Any:
    """A tqdm progress bar of ``total`` steps (or of another ``unit``), or None when not
    ``enabled``."""
    if not enabled:
        return None
    from tqdm.auto import tqdm  # the notebook or terminal flavour, chosen when a bar is wanted

    return tqdm(total=total, desc=desc, unit=unit, leave=True)


def forget_custom_gradients(graph: Any) -> int:
    """Drop the gradient functions that tracing ``graph`` left in TensorFlow's global registry.

    The backbone's fast convolutions use ``tf.custom_gradient``. Traced into a graph, each use
    registers its gradient function process-wide under a new name, and TensorFlow never removes
    it: the entry holds the traced graph and every tensor it captured, about 110 MB per
    :func:`~nst_helpers.optimize.stylize` call with VGG19. The gradients were built into ``graph``
    while it was traced, so its entries serve nothing afterwards. Only entries whose tensors belong
    to ``graph`` (or to a graph nested in it, such as a loop's body) are dropped, so other threads'
    traces are left alone. This reads TensorFlow internals; where they differ, nothing is dropped.

    Args:
        graph: the ``FuncGraph`` of a traced concrete function.

    Returns:
        How many entries were dropped.
    """
    try:  # TensorFlow's internals: loaded already by whoever traced the graph
        from tensorflow.python.framework import ops as tf_ops, registry

        table, tag = tf_ops._gradient_registry._registry, registry._TYPE_TAG
    except (ImportError, AttributeError):
        return 0
    dropped = 0
    for key in [k for k in list(table) if str(k).startswith("CustomGradient-")]:
        try:
            tape_grad_fn = table[key][tag].__closure__[0].cell_contents
            cells = dict(zip(tape_grad_fn.__code__.co_freevars, tape_grad_fn.__closure__))
            result = cells["result"].cell_contents
            owner = (result[0] if isinstance(result, (list, tuple)) else result).graph
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            continue
        while owner is not None and owner is not graph:
            owner = getattr(owner, "outer_graph", None)
        if owner is graph:
            table.pop(key, None)
            dropped += 1
    return dropped


def trace(function: Any, *specs: Any) -> tuple[Any, float]:
    """Trace ``function`` for ``specs`` once; return its concrete function and the seconds taken.

    The run calls the concrete function itself, so nothing is traced again, and the global
    entries the trace left behind are dropped (:func:`forget_custom_gradients`).
    """
    t = time.perf_counter()
    concrete = function.get_concrete_function(*specs)
    forget_custom_gradients(concrete.graph)
    return concrete, time.perf_counter() - t


# --- the loop ---------------------------------------------------------------------------------------


class Loop:
    """The skeleton every run shares: history, boundaries, callbacks, frames, checkpoints, stopping.

    A *boundary* is a step at which the run looks up from optimising: every ``callback_every``
    steps (callback and ``should_stop``), every ``frames_every`` steps (a frame), every
    ``save_every`` steps (``save()``, a training run's checkpoint) and at the last step. Adam and
    L-BFGS on an image run compiled chunks from one boundary to the next; a network's training
    looks up after every step (a new batch is drawn in Python anyway).

    Args:
        steps: the step at which the run ends.
        config: the run's settings, for the divergence message (:func:`divergence_message`).
        start: the step the run begins at (a resumed training run's checkpoint; else 0).
        callback: called with a progress dataclass at the callback boundaries; raise
            :class:`StopRun` in it to stop.
        callback_every: steps between callbacks (``None``: at the last step only).
        frames_every, frames_dir: keep the current image every this many steps (and save it).
        should_stop: a function checked at every boundary; True stops the run.
        progress: show a progress bar, named ``desc``.
        force: replace existing frames.
        frame_transform: applied to each frame before it is kept (colour preservation).
        save_every, save: call ``save()`` every this many steps (checkpoints).
        deadline: a ``time.perf_counter()`` value after which the run stops ("time limit"), and
            ``deadline_words``, what the limit was, for the message.
        progress_info: builds the callback's dataclass from ``(step, steps, last losses, elapsed,
            best loss, x)``; default :class:`Progress`.
        kept: what an interrupted run keeps, for its message ("the best image so far").
    """

    def __init__(
        self,
        steps: int,
        config: Any,
        *,
        start: int = 0,
        callback: Callable | None = None,
        callback_every: int | None = 10,
        frames_every: int | None = None,
        frames_dir: Any = None,
        should_stop: Callable[[], bool] | None = None,
        progress: bool = False,
        desc: str = "",
        force: bool = False,
        frame_transform: Callable | None = None,
        save_every: int | None = None,
        save: Callable[[], Any] | None = None,
        deadline: float | None = None,
        deadline_words: str = "",
        progress_info: Callable[..., Any] | None = None,
        kept: str = "the best image so far",
    ):
        self.config = config
        self.steps = int(steps)
        self.callback = callback
        self.callback_every = callback_every
        self.frames_every = frames_every
        self.frames_dir = frames_dir
        self.force = force
        self.frame_transform = frame_transform
        self.frame_error = ""  # why frames stopped being written, if they did
        self.should_stop = should_stop
        self.save_every, self.save = save_every, save
        self.deadline, self.deadline_words = deadline, deadline_words
        self.progress_info = progress_info or Progress
        self.kept = kept
        self.history: dict[str, list[float]] = {k: [] for k in LOSS_NAMES}
        self.frames: list[tuple[int, np.ndarray]] = []
        self.step = int(start)
        self.start = time.perf_counter()  # set again when run() starts
        self.seconds = 0.0  # optimisation time, set by run()
        self.bar = progress_bar(self.steps - self.step, desc, progress)

    def next_boundary(self, step: int) -> int:
        """The first boundary after ``step``."""
        stops = [self.steps] + [
            (step // k + 1) * k
            for k in (self.callback_every, self.frames_every, self.save_every)
            if k
        ]
        return min(stops)

    def is_boundary(self, step: int) -> bool:
        return step == self.steps or any(
            k and step % k == 0 for k in (self.callback_every, self.frames_every, self.save_every)
        )

    def record(self, rows: Any) -> None:
        """Add one row of :data:`LOSS_NAMES` values per step done to the history."""
        rows = np.atleast_2d(rows)
        for row in rows:
            for k, v in zip(LOSS_NAMES, row):
                self.history[k].append(float(v))
        if self.bar is not None:
            self.bar.update(len(rows))
            self.bar.set_postfix(loss=f"{self.history['total'][-1]:.4g}", refresh=False)

    def check(self) -> None:
        """Raise :class:`LoopStop` if the loss has diverged (:func:`diverged`)."""
        if diverged(self.history["total"]):
            raise LoopStop("diverged")

    def boundary(self, x: Any, best_loss: float) -> None:
        """Frames, checkpoint, callback, stop request and time limit at the current step;
        raises :class:`LoopStop` to stop. ``x`` is what a frame or the callback shows."""
        if self.frames_every and self.step % self.frames_every == 0:
            frame = from_vgg(x)
            if self.frame_transform is not None:
                frame = self.frame_transform(frame)
            self.frames.append((self.step, frame))
            if self.frames_dir is not None:
                self.write_frame(self.step, frame)
        if self.save is not None and self.save_every and self.step % self.save_every == 0:
            self.save()
        if self.callback is not None and (
            self.step == self.steps or self.callback_every and self.step % self.callback_every == 0
        ):
            last = {k: v[-1] for k, v in self.history.items() if v}
            info = self.progress_info(
                self.step, self.steps, last, time.perf_counter() - self.start, best_loss, x
            )
            try:
                self.callback(info)
            except StopRun:
                raise LoopStop("stopped") from None
        if self.should_stop is not None and self.should_stop():
            raise LoopStop("stopped")
        if (
            self.deadline is not None
            and self.step < self.steps
            and time.perf_counter() >= self.deadline
        ):
            raise LoopStop(
                "time limit",
                f"Stopped at step {self.step} of {self.steps}: {self.deadline_words} was reached.",
            )

    def write_frame(self, step: int, frame: np.ndarray) -> None:
        """Save a frame; if that fails (the disk, another program), go on without saving more."""
        try:
            save_image(frame, frame_path(self.frames_dir, step), force=self.force)
        except NSTError as err:
            self.frame_error = f"Frames were no longer saved from step {step}: {err}"
            self.frames_dir = None

    def run(self, body: Callable[[], str]) -> tuple[str, str]:
        """Run ``body()`` (which returns the reason it ended) and say how the run ended.

        The one place where Ctrl-C and stop requests are caught, for every run.

        Returns:
            ``(reason, message)``: reason ``finished``, ``converged``, ``stopped``,
            ``interrupted``, ``diverged`` or ``time limit``.
        """
        self.start = time.perf_counter()
        try:
            reason, message = body(), ""
        except LoopStop as stop:
            reason, message = stop.reason, stop.message
        except KeyboardInterrupt:
            reason = "interrupted"
            message = f"Interrupted at step {self.step}; kept {self.kept}."
        if reason == "diverged":
            message = divergence_message(self.step, self.config, self.history)
        self.seconds = time.perf_counter() - self.start
        return reason, message

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
