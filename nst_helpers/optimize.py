"""Optimising the image: the compiled Adam loop and L-BFGS.

Gatys et al. (2016) start from an image and change its pixels, never the network, until its VGG
features match the content image's at the content layers and its Gram matrices match the style
image's at the style layers. :func:`stylize` does that and returns a :class:`StyleResult` with the
best image found, the loss history, the timings and the name of the backbone that made it.

Both optimisers keep the image in VGG space and inside the range of real pixels: Adam by clipping
after each step, as the seed did; L-BFGS by projecting onto those bounds (:mod:`nst_helpers.lbfgs`).
Both run many steps per call of one ``tf.function``, so Python does no work per step; the best
image is tracked inside the graph.
"""

from __future__ import annotations

import gc
import pathlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._tf import Tensor, tf as _tf
from .color import transfer_luminance
from .config import StyleConfig, preset
from .errors import NSTError
from .images import VGG_MAX, VGG_MIN, ImageSource, PathLike, from_vgg, save_image
from .lbfgs import BoxLBFGS
from .loop import (
    EXPLODE,
    LOSS_NAMES,
    Loop,
    LoopStop,
    Progress,
    StopRun,
    check_frames_dir,
    diverged,
    finite_json,
    frame_path,
    trace,
)
from .problem import Problem, as_list

tf = _tf()
import keras  # noqa: E402

#: L-BFGS's memory: the inverse Hessian is built from this many recent steps (scipy's ``maxcor``;
#: 10 lost 6 % of the loss at 150 evaluations, docs/performance-history.md).
LBFGS_HISTORY = 20

# The loop's and the problem's public names are offered here too: notebooks import them from here.
__all__ = [
    "StyleResult",
    "stylize",
    "Problem",
    "as_list",
    "EXPLODE",
    "LOSS_NAMES",
    "Loop",
    "LoopStop",
    "Progress",
    "StopRun",
    "check_frames_dir",
    "finite_json",
    "frame_path",
    "trace",
]


@dataclass
class StyleResult:
    """The outcome of :func:`stylize`."""

    image: np.ndarray  # best image, uint8 RGB
    best_loss: float
    best_step: int
    history: dict[
        str, list[float]
    ]  # "total", "content", "style", "tv": one value per step (weighted)
    steps: int  # steps done
    seconds: float  # optimisation time, without set-up and compilation
    setup_seconds: float
    compile_seconds: float
    backbone: str
    config: StyleConfig
    stop_reason: str = "finished"  # finished, converged, interrupted, stopped or diverged
    message: str = ""
    frames: list[tuple[int, np.ndarray]] = field(default_factory=list, repr=False)  # uint8
    #: Coarse-to-fine only: one summary dict per stage (size, steps, seconds, best loss, reason).
    stages: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def interrupted(self) -> bool:
        return self.stop_reason in ("interrupted", "stopped")

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / self.steps if self.steps else float("nan")

    def report(self) -> dict:
        """A JSON-ready summary of the run, standard JSON: no ``NaN`` or ``Infinity``.

        A loss that overflowed or became NaN is written as ``null``; ``"not_finite"`` then says
        which values were what (for example ``{"best_loss": "infinite"}``). A coarse-to-fine
        result adds its ``"stages"``.
        """
        h, w = self.image.shape[:2]
        return finite_json(
            {
                "backbone": self.backbone,
                "size": [w, h],
                "steps": self.steps,
                "seconds": round(self.seconds, 3),
                "seconds_per_step": round(self.seconds_per_step, 5) if self.steps else None,
                "setup_seconds": round(self.setup_seconds, 3),
                "compile_seconds": round(self.compile_seconds, 3),
                "best_loss": self.best_loss,
                "best_step": self.best_step,
                "final_losses": {k: (v[-1] if v else None) for k, v in self.history.items()},
                "loss_history": list(self.history["total"]),
                "stop_reason": self.stop_reason,
                "message": self.message,
                "config": self.config.to_dict(),
                **({"stages": list(self.stages)} if self.stages else {}),
            }
        )

    def save(self, path: PathLike, force: bool = False) -> pathlib.Path:
        """Save the best image as PNG with the backbone and settings stored in it."""
        meta = {
            "backbone": self.backbone,
            "nst_config": self.config.to_dict(),
            "best_loss": self.best_loss,
            "steps": self.steps,
        }
        return save_image(self.image, path, force=force, metadata=meta)

    def __repr__(self) -> str:
        h, w = self.image.shape[:2]
        return (
            f"StyleResult({w}x{h}, backbone={self.backbone}, {self.config.precision}, "
            f"steps={self.steps}, "
            f"best_loss={self.best_loss:.4g}, seconds={self.seconds:.1f}, "
            f"stop_reason={self.stop_reason!r})"
        )


@dataclass
class _Outcome:
    """What an optimiser hands back to :func:`stylize`: the best image and why it stopped."""

    x: Any  # the best image, VGG space
    loss: float
    step: int
    compile_seconds: float
    reason: str = "finished"  # finished, converged, interrupted, stopped or diverged
    message: str = ""


def _run_adam(problem: Problem, x0: Tensor, loop: Loop) -> _Outcome:
    """Adam on the pixels, clipped to real pixels after each step, many steps per compiled call."""
    cfg = problem.config
    x = tf.Variable(x0, dtype=tf.float32, name="image")
    best_x = tf.Variable(x0, dtype=tf.float32, name="best_image")
    best_loss = tf.Variable(np.inf, dtype=tf.float32)
    best_step = tf.Variable(0, dtype=tf.int64)
    opt = keras.optimizers.Adam(
        learning_rate=cfg.learning_rate, beta_1=cfg.beta_1, beta_2=cfg.beta_2, epsilon=cfg.epsilon
    )
    opt.build([x])
    lo, hi = tf.constant(VGG_MIN), tf.constant(VGG_MAX)

    @tf.function(reduce_retracing=True)
    def run(n: Tensor, offset: Tensor) -> Tensor:
        rows = tf.TensorArray(tf.float32, size=n)
        for i in tf.range(n):
            with tf.GradientTape() as tape:
                total, content, style, tv = problem.losses(x)
            grad = tape.gradient(total, x)
            better = total < best_loss  # the loss belongs to x before this step's update
            best_x.assign(tf.where(better, x, best_x))
            best_step.assign(tf.where(better, tf.cast(offset + i, tf.int64), best_step))
            best_loss.assign(tf.where(better, total, best_loss))
            opt.apply_gradients([(grad, x)])
            x.assign(tf.clip_by_value(x, lo, hi))
            rows = rows.write(i, tf.stack([total, content, style, tv]))
        return rows.stack()

    run, compile_seconds = trace(run, tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32))

    def body() -> str:
        while loop.step < loop.steps:
            stop = loop.next_boundary(loop.step)
            rows = run(tf.constant(stop - loop.step), tf.constant(loop.step)).numpy()
            loop.step = stop
            loop.record(rows)
            loop.check()
            loop.boundary(x, float(best_loss.numpy()))
        return "finished"

    reason, message = loop.run(body)
    if not np.isfinite(best_loss.numpy()):  # no step finished: the start is the best we have
        best_x.assign(x0)
    return _Outcome(
        best_x, float(best_loss.numpy()), int(best_step.numpy()), compile_seconds, reason, message
    )


def _run_lbfgs(problem: Problem, x0: Tensor, loop: Loop) -> _Outcome:
    """L-BFGS on the pixels, bounded to real pixels, many evaluations per compiled call
    (:class:`~nst_helpers.lbfgs.BoxLBFGS`: no float64 copies, no round trip to Python)."""

    def value_and_grad(x: Tensor) -> tuple[Tensor, Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            total, content, style, tv = problem.losses(x)
        return tf.stack([total, content, style, tv]), tape.gradient(total, x)

    opt = BoxLBFGS(value_and_grad, x0, VGG_MIN, VGG_MAX, history=LBFGS_HISTORY)
    run, compile_seconds = trace(opt.run, tf.TensorSpec([], tf.int32))

    def body() -> str:
        while loop.step < loop.steps:
            stop = loop.next_boundary(loop.step)
            rows = run(tf.constant(stop - loop.step)).numpy()
            loop.step += len(rows)
            loop.record(rows)
            # The line search keeps only points that lower the loss, so L-BFGS cannot run away
            # as Adam can: a rejected trial point far above the start is not a divergence. Only
            # a start that is not finite is (the one rule, applied to the first value).
            if diverged(loop.history["total"][:1]):
                raise LoopStop("diverged")
            converged = bool(opt.converged.numpy())
            if converged and loop.step < stop:  # stopped between two boundaries
                return "converged"
            loop.boundary(opt.x, float(opt.best_loss.numpy()))
            if converged and loop.step < loop.steps:
                return "converged"
        return "finished"

    reason, message = loop.run(body)
    best = float(opt.best_loss.numpy())
    if not np.isfinite(best):  # nothing evaluated: the start is the best we have
        return _Outcome(x0, best, 0, compile_seconds, reason, message)
    return _Outcome(opt.best_x, best, int(opt.best_step.numpy()), compile_seconds, reason, message)


def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    config: StyleConfig | str = "fast",
    *,
    style_blend: float | Sequence[float] | None = None,
    style_masks: Any = None,
    init_image: ImageSource | None = None,
    callback: Callable[[Progress], Any] | None = None,
    callback_every: int | None = 10,
    frames_every: int | None = None,
    frames_dir: str | pathlib.Path | None = None,
    progress: bool = True,
    should_stop: Callable[[], bool] | None = None,
    verbose: bool = True,
    force: bool = False,
    **changes: Any,
) -> StyleResult:
    """Transfer the style of ``style`` onto ``content`` (Gatys et al. 2016).

    Args:
        content, style: anything :func:`nst_helpers.images.load_image` reads. ``style`` may be a
            list of images, blended with ``style_blend`` weights or placed with ``style_masks``.
        config: a :class:`StyleConfig` or a preset name (``"fast"``, ``"seed"``, ``"gatys"``).
        style_blend: one weight per style image, zero or positive. Without masks they are shares
            of the style loss, scaled to sum to 1 (default equal): ``(3, 1)`` is 75 % and 25 %,
            ``(1, 0)`` exactly the first style alone. With masks they are used as given (default 1
            each), since each style rules its own region.
        style_masks: one mask per style image (or ``None`` for everywhere): an ``(H, W)`` array in
            [0, 1] (or 0 to 255), a PIL image or an image file, white where that style applies
            (Gatys et al. 2017). A mask with the content's aspect ratio is resized to it. Where no
            mask is white, only the content loss acts, so that part stays a photograph.
        init_image: start from this image instead of ``config.init``.
        callback: called with a :class:`Progress` every ``callback_every`` steps (``None``:
            at the last step only); raise :class:`StopRun` in it to stop.
        frames_every: keep the current image every this many steps in ``result.frames`` (and save
            it in ``frames_dir``); never every step, so memory stays flat.
        frames_dir: a folder for those frames (``frame_00005.png`` …), made if missing. One that
            already holds a frame this run would write is refused before the run unless ``force``
            (:func:`check_frames_dir`).
        progress: show a tqdm progress bar.
        should_stop: a function checked every ``callback_every`` steps; return True to stop.
        force: replace existing frames in ``frames_dir``.
        **changes: settings that replace the config's, e.g. ``steps=100, style_weight=1e-3``,
            ``preserve_color="luminance"`` (or ``"histogram"``, see :mod:`nst_helpers.color`),
            ``init="noise"``, ``pooling="avg"``, ``tv_weight=...``, ``backbone="random:0"``.

    Returns:
        A :class:`StyleResult`. Ctrl-C (KeyboardInterrupt) ends the run and still returns the best
        image so far; an exploding loss ends it with a message suggesting a smaller learning rate.
    """
    cfg = preset(config, **changes)
    _check_run_options(cfg, callback_every, frames_every, frames_dir, force)
    problem, x0, setup_seconds = _set_up(
        content, style, cfg, style_blend, style_masks, init_image, verbose
    )
    loop = _make_loop(
        problem, callback, callback_every, frames_every, frames_dir, should_stop, progress, force
    )
    return _result(_optimise(problem, x0, loop), problem, loop, setup_seconds, verbose)


def _check_run_options(
    cfg: StyleConfig,
    callback_every: int | None,
    frames_every: int | None,
    frames_dir: str | pathlib.Path | None,
    force: bool,
) -> None:
    """Refuse bad step counts and a frames folder that holds this run's frames, before set-up."""
    if callback_every is not None and (int(callback_every) != callback_every or callback_every < 1):
        raise NSTError(f"callback_every must be a whole number >= 1, not {callback_every}.")
    if frames_every is not None and (int(frames_every) != frames_every or frames_every < 1):
        raise NSTError(f"frames_every must be a whole number >= 1, not {frames_every}.")
    if frames_dir is not None:
        check_frames_dir(frames_dir, frames_every, cfg.steps, force=force)


def _set_up(
    content: ImageSource,
    style: Any,
    cfg: StyleConfig,
    style_blend: Any,
    style_masks: Any,
    init_image: ImageSource | None,
    verbose: bool,
) -> tuple[Problem, Tensor, float]:
    """The run's :class:`Problem`, its starting image and the seconds the two took."""
    # An earlier run's Keras model, traced functions and graphs sit in reference cycles, which
    # Python's collector (counting objects, not bytes) may leave for many runs: about 1.6 GB after
    # the 56 runs of tests/test_controls.py. Collect them before building the next one.
    gc.collect()
    t0 = time.perf_counter()
    problem = Problem(content, style, cfg, style_blend, style_masks, verbose=verbose)
    x0 = problem.initial_image(init_image)
    return problem, x0, time.perf_counter() - t0


def _make_loop(
    problem: Problem,
    callback: Callable[[Progress], Any] | None,
    callback_every: int | None,
    frames_every: int | None,
    frames_dir: str | pathlib.Path | None,
    should_stop: Callable[[], bool] | None,
    progress: bool,
    force: bool,
) -> Loop:
    """The run's :class:`Loop`: history, callbacks, frames, stopping and the progress bar."""
    cfg = problem.config
    desc = "L-BFGS" if cfg.optimizer == "lbfgs" else "Adam"
    frame_transform = None
    if cfg.preserve_color == "luminance":  # the grey image's luminance, the content's colours

        def frame_transform(image: np.ndarray) -> np.ndarray:
            return transfer_luminance(image, problem.color_content)

    return Loop(
        int(cfg.steps),
        cfg,
        callback=callback,
        callback_every=callback_every,
        frames_every=frames_every,
        frames_dir=frames_dir,
        should_stop=should_stop,
        progress=progress,
        desc=f"{desc} [{problem.backbone.name}]",
        force=force,
        frame_transform=frame_transform,
    )


def _optimise(problem: Problem, x0: Tensor, loop: Loop) -> _Outcome:
    """Run the config's optimiser from ``x0``; the progress bar is closed however it ends."""
    runner = _run_lbfgs if problem.config.optimizer == "lbfgs" else _run_adam
    try:
        return runner(problem, x0, loop)
    finally:
        loop.close()


def _result(
    out: _Outcome, problem: Problem, loop: Loop, setup_seconds: float, verbose: bool
) -> StyleResult:
    """The :class:`StyleResult` of a finished run, its messages printed when ``verbose``."""
    message = out.message
    if message and verbose:
        print(message)
    image = from_vgg(out.x)
    if loop.frame_transform is not None:  # colour preservation, as for the frames
        image = loop.frame_transform(image)
    if loop.frame_error:
        message = f"{message} {loop.frame_error}".strip()
        if verbose:
            print(loop.frame_error)
    return StyleResult(
        image=image,
        best_loss=out.loss,
        best_step=out.step,
        history=loop.history,
        steps=loop.step,
        seconds=loop.seconds,
        setup_seconds=setup_seconds,
        compile_seconds=out.compile_seconds,
        backbone=problem.backbone.name,
        config=problem.config,
        stop_reason=out.reason,
        message=message,
        frames=loop.frames,
    )
