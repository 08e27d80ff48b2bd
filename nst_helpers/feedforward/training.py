"""Training the network: Adam on its weights, on the library's one loop and one loss."""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import losses
from .._tf import Tensor, tf as _tf
from ..backbone import load_backbone, resolve_precision
from ..errors import NSTError
from ..images import ImageSource, PathLike, load_image, vgg_input
from ..loop import LOSS_NAMES, Loop, trace
from .checkpoints import CheckpointWriter, checkpoint_setup, run_record
from .data import HELD_OUT, PhotoCrops, describe_style, painting as load_painting, photo
from .network import transformation_network
from .settings import TrainConfig
from .use import save_network, stylize_fast

tf = _tf()
import keras  # noqa: E402  (Keras 3, imported after TensorFlow's quiet import)

__all__ = ["TrainProgress", "TrainResult", "held_out_loss", "perceptual_loss", "train"]


@dataclass
class TrainProgress:
    """What a :func:`train` callback sees every ``callback_every`` steps."""

    step: int
    steps: int
    losses: dict  # the last step's weighted losses
    history: dict = field(repr=False)
    elapsed: float  # seconds since the first step of this call
    model: object = field(repr=False, default=None)

    def preview(self, image: ImageSource, max_side: int | None = 128) -> np.ndarray:
        """``image`` stylised by the network as it is now (``uint8``)."""
        return stylize_fast(self.model, image, max_side=max_side)


@dataclass
class TrainResult:
    """The outcome of :func:`train`."""

    model: object = field(repr=False)
    history: dict = field(repr=False)  # "total", "content", "style", "tv": one value per step
    start_step: int  # the step this call began from (a resumed run's checkpoint)
    step: int  # the step reached
    seconds: float  # training time of this call, without set-up and compilation
    setup_seconds: float
    compile_seconds: float
    backbone: str
    precision: str
    config: TrainConfig = field(repr=False)
    stop_reason: str = "finished"  # finished, time limit, interrupted, stopped or diverged
    message: str = ""
    checkpoint: str | None = None  # the last checkpoint written, if any

    @property
    def seconds_per_step(self) -> float:
        done = self.step - self.start_step
        return self.seconds / done if done else float("nan")

    @property
    def interrupted(self) -> bool:
        return self.stop_reason in ("interrupted", "stopped")

    def save(self, path: PathLike, force: bool = False) -> pathlib.Path:
        """Save the network as a ``.keras`` file (:func:`save_network`); returns the path."""
        return save_network(self.model, path, force=force)

    def __repr__(self) -> str:
        return (
            f"TrainResult(step {self.step} of {self.config.steps}, backbone={self.backbone}, "
            f"precision={self.precision}, {self.seconds:.0f} s, "
            f"{1000 * self.seconds_per_step:.0f} ms/step, stop_reason={self.stop_reason!r})"
        )


def perceptual_loss(style: Any, config: TrainConfig, verbose: bool = True) -> losses.PerceptualLoss:
    """The training loss of a network for the painting ``style``: the library's one loss
    (:class:`nst_helpers.losses.PerceptualLoss`) over the frozen VGG, with the painting's Gram
    matrices as its style targets and a second, shorter extractor for the photographs' content
    features (it stops at the content layer).

    Args:
        style: the painting, ``uint8`` RGB (:func:`~nst_helpers.feedforward.data.painting`).
        config: a :class:`TrainConfig`: layers, weights, normalisation, backbone, precision.
        verbose: say which backbone was loaded.

    Returns:
        The loss, with ``backbone`` and ``precision`` (``"auto"`` resolved) set on it.
    """
    precision = resolve_precision(config.precision)
    backbone = load_backbone(config.backbone, verbose=verbose)
    layers = list(dict.fromkeys(list(config.content_layers) + list(config.style_layers)))
    backbone.check_layers(layers)
    loss = losses.PerceptualLoss(
        backbone.extractor(layers, precision=precision),
        config,
        [vgg_input(style[None])],
        content_extractor=backbone.extractor(list(config.content_layers), precision=precision),
        backbone=backbone,
        precision=precision,
    )
    return loss


def held_out_loss(
    network: Any,
    style: Any = "starry_night",
    photos: Sequence[Any] = HELD_OUT,
    max_side: int = 256,
    config: TrainConfig | None = None,
) -> dict[str, dict[str, float]]:
    """How well ``network`` paints photographs it never trained on: the perceptual loss of its
    pictures, in float32.

    Each photograph, at most ``max_side`` px, is stylised by the network as a user gets it
    (:func:`~nst_helpers.feedforward.use.stylize_fast`, whole pixels) and judged by the training's
    loss (:func:`perceptual_loss`) against that photograph's own content features, with
    ``config``'s layers and weights in float32. The default judge is ``TrainConfig()``, the same
    for every network, so that networks trained with other weights (an ablation of the style
    weight) are compared on one scale.

    Args:
        network: a trained network (:func:`train`'s ``model``, :func:`load_network`'s result).
        style: the painting the network was trained for.
        photos: names of photographs (:func:`~nst_helpers.feedforward.data.photo`) or images;
            default :data:`~nst_helpers.feedforward.data.HELD_OUT`.
        max_side: the size they are judged at.
        config: the judge's settings (default ``TrainConfig()``); its precision is float32.

    Returns:
        ``{photo: {"total", "content", "style", "tv"}}`` with the weighted losses of each picture,
        and ``"mean"``, their means over the photographs.
    """
    if not len(photos):
        raise NSTError("held_out_loss needs at least one photograph to judge the network on.")
    cfg = dataclasses.replace(config or TrainConfig(), precision="float32")
    loss_fn = perceptual_loss(load_painting(style, cfg.style_size), cfg, verbose=False)
    out: dict[str, dict[str, float]] = {}
    for i, item in enumerate(photos):
        name = item if isinstance(item, str) else f"photo {i + 1}"
        source = photo(item) if isinstance(item, str) else item
        image = load_image(source, max_side=max_side, name=name)
        picture = stylize_fast(network, image, max_side=None)
        x = tf.constant(image[None].astype(np.float32))
        y = tf.constant(picture[None].astype(np.float32))
        values = loss_fn(vgg_input(y), loss_fn.content_targets(vgg_input(x)))
        out[name] = {part: float(v) for part, v in zip(LOSS_NAMES, values)}
    names = list(out)
    out["mean"] = {part: float(np.mean([out[n][part] for n in names])) for part in LOSS_NAMES}
    return out


def train(
    style: Any,
    config: TrainConfig | None = None,
    *,
    photos: Any = None,
    checkpoint_dir: PathLike | None = None,
    resume: bool = False,
    force: bool = False,
    callback: Callable | None = None,
    callback_every: int = 50,
    should_stop: Callable[[], bool] | None = None,
    progress: bool = True,
    verbose: bool = True,
    **changes: Any,
) -> TrainResult:
    """Train a transformation network for the painting ``style`` (Johnson et al. 2016).

    Every step draws a batch of crops (:class:`PhotoCrops`), stylises them with the network,
    measures the library's one loss (:class:`nst_helpers.losses.PerceptualLoss`, the photographs'
    features as content targets) and lets Adam change the network's weights; the VGG stays frozen.
    The step is one ``tf.function``, traced once, and the run is the library's one loop
    (:class:`nst_helpers.loop.Loop`): the same stop requests, Ctrl-C, divergence rule and message
    as :func:`~nst_helpers.optimize.stylize`.

    Args:
        style: the painting: a sample name (``"starry_night"``), a file, an array.
        config: a :class:`TrainConfig` (default ``TrainConfig()``); ``**changes`` replace its
            settings, e.g. ``steps=600, size=96``.
        photos: the training photographs (see :class:`PhotoCrops`); default
            :data:`TRAINING_PHOTOS`, never :data:`HELD_OUT`.
        checkpoint_dir: a folder for checkpoints, written every ``config.checkpoint_every`` steps,
            at the end, and when the run is interrupted. None: no checkpoints.
        resume: continue from the newest checkpoint in ``checkpoint_dir`` that reads back whole
            (its step, network, optimiser state) up to ``config.steps``; newer damaged ones are
            moved into ``damaged-N/`` there, saying so. Without it, a folder that already holds
            checkpoints is refused unless ``force``.
        force: start again in a folder that holds checkpoints: they are moved into
            ``earlier-N/`` there, not deleted (with ``resume`` it changes nothing).
        callback: called with a :class:`TrainProgress` every ``callback_every`` steps (and at the
            last); raise :class:`~nst_helpers.loop.StopRun` in it to stop (a checkpoint is
            written).
        should_stop: a function checked after every step; True stops like ``StopRun``.
        progress: show a tqdm progress bar.
        verbose: print what is loaded and why the run ended.

    Returns:
        A :class:`TrainResult`. Ctrl-C (``KeyboardInterrupt``, which ``nst train-style`` also
        raises on SIGTERM) ends the run after the step in progress, writes a checkpoint of it and
        still returns the network.
    """
    t0 = time.perf_counter()
    cfg = _settings(config, changes, callback_every)
    run = _set_up(style, cfg, photos, checkpoint_dir, resume, force, verbose)
    run.setup_seconds = time.perf_counter() - t0
    run.train_step, run.compile_seconds = trace(run.train_step)  # traced once, here
    loop = _loop(run, t0, callback, callback_every, should_stop, progress)
    reason, message, path = _run(loop, run, verbose)
    _describe(run, photos)
    return _result(run, loop, reason, message, path)


def _settings(
    config: TrainConfig | None, changes: dict[str, Any], callback_every: int
) -> TrainConfig:
    """``config`` (default ``TrainConfig()``) with ``changes``, validated; ``callback_every``
    checked too."""
    cfg = config or TrainConfig()
    cfg = cfg.replace(**changes) if changes else cfg.validate()
    if int(callback_every) != callback_every or callback_every < 1:
        raise NSTError(f"callback_every must be a whole number >= 1, not {callback_every!r}.")
    return cfg


@dataclass
class _Training:
    """A training run's parts, as :func:`_set_up` makes them, and the seconds they took."""

    config: TrainConfig
    description: str  # the painting's name, for messages and the network's description
    loss: losses.PerceptualLoss
    data: PhotoCrops
    model: keras.Model
    step: Tensor  # a tf.Variable: the steps done, kept in every checkpoint
    train_step: Any  # the tf.function (:func:`_train_step`), then its traced concrete function
    writer: CheckpointWriter | None  # None: no checkpoints
    start_step: int  # 0, or the step of the checkpoint resumed from
    setup_seconds: float = 0.0
    compile_seconds: float = 0.0


def _set_up(
    style: Any,
    cfg: TrainConfig,
    photos: Any,
    checkpoint_dir: PathLike | None,
    resume: bool,
    force: bool,
    verbose: bool,
) -> _Training:
    """Everything a run needs: the painting, the checkpoint folder (checked first, so that a
    refusal is quick), the loss, the photographs, the network and Adam (restored from the
    checkpoint when resuming) and the training step."""
    description, painting = describe_style(style), load_painting(style, cfg.style_size)
    resume_from = None
    if checkpoint_dir is not None:  # before the network is loaded, so that a refusal is quick
        _, resume_from = checkpoint_setup(checkpoint_dir, cfg, painting, description, resume, force)
    loss_fn = perceptual_loss(painting, cfg, verbose=verbose)
    data = PhotoCrops(photos, size=cfg.size, batch_size=cfg.batch_size, seed=cfg.seed)
    net = transformation_network(cfg.filters, cfg.residual_blocks, skip=cfg.skip, seed=cfg.seed)
    optimizer = keras.optimizers.Adam(learning_rate=cfg.learning_rate)
    optimizer.build(net.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    writer = None
    if checkpoint_dir is not None:
        record = run_record(cfg, painting, description)
        writer = CheckpointWriter(
            checkpoint_dir, net, optimizer, step, resume_from, record, verbose
        )
    return _Training(
        config=cfg,
        description=description,
        loss=loss_fn,
        data=data,
        model=net,
        step=step,
        train_step=_train_step(loss_fn, net, optimizer, step, cfg),
        writer=writer,
        start_step=int(step.numpy()),
    )


def _train_step(
    loss_fn: losses.PerceptualLoss,
    net: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    step: Tensor,
    cfg: TrainConfig,
) -> Any:
    """One step of Adam on the network's weights, as a ``tf.function`` of a batch of photographs
    (of the run's one batch shape): the photographs' VGG features are the content targets of
    their stylised versions. It counts ``step`` up and returns the total, content, style and TV
    losses."""
    spec = tf.TensorSpec((cfg.batch_size, cfg.size, cfg.size, 3), tf.float32)

    @tf.function(input_signature=[spec])
    def train_step(photos_: Tensor) -> Tensor:
        targets = loss_fn.content_targets(vgg_input(photos_))
        with tf.GradientTape() as tape:
            total, content, style_, tv = loss_fn(vgg_input(net(photos_, training=True)), targets)
        grads = tape.gradient(total, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        step.assign_add(1)
        return tf.stack([total, content, style_, tv])

    return train_step


def _loop(
    run: _Training,
    t0: float,
    callback: Callable | None,
    callback_every: int,
    should_stop: Callable[[], bool] | None,
    progress: bool,
) -> Loop:
    """The library's loop for ``run``: from its start step, with its checkpoints, its time limit
    (counted from ``t0``: set-up included) and :func:`train`'s callback and stop requests."""
    cfg, writer = run.config, run.writer
    deadline = None if cfg.max_minutes is None else t0 + 60.0 * cfg.max_minutes

    def progress_info(
        k: int, steps: int, last: dict, elapsed: float, best_loss: float, x: Any
    ) -> TrainProgress:
        return TrainProgress(k, steps, last, loop.history, elapsed, run.model)

    loop = Loop(
        cfg.steps,
        cfg,
        start=run.start_step,
        callback=callback,
        callback_every=callback_every,
        should_stop=should_stop,
        progress=progress,
        desc=f"Training [{run.loss.backbone.name}]",
        save_every=cfg.checkpoint_every if writer is not None else None,
        save=writer.save if writer is not None else None,
        deadline=deadline,
        deadline_words=f"the time limit of {cfg.max_minutes:g} minutes" if deadline else "",
        progress_info=progress_info,
        kept="the network so far",
    )
    return loop


def _run(loop: Loop, run: _Training, verbose: bool) -> tuple[str, str, str | None]:
    """Train until the last step or a stop, then write the last checkpoint (a diverged run's is
    the last one written before) and say how the run ended: ``(reason, message, checkpoint)``."""

    def body() -> str:
        while loop.step < loop.steps:
            loop.record(run.train_step(tf.constant(run.data.batch(loop.step))).numpy())
            loop.step += 1
            loop.check()
            loop.boundary(None, float("nan"))  # every step is a boundary: stop requests, time
        return "finished"

    try:
        reason, message = loop.run(body)
    finally:
        loop.close()
    writer = run.writer
    path = None if writer is None else (writer.latest if reason == "diverged" else writer.save())
    if path and reason in ("interrupted", "stopped", "time limit"):
        message = f"{message} The last checkpoint is {path}.".strip()
    if message and verbose:
        print(message)
    return reason, message, path


def _describe(run: _Training, photos: Any) -> None:
    """Give the network the description its ``.keras`` file keeps: the painting, the backbone,
    the steps, the photographs, the settings
    (:func:`~nst_helpers.feedforward.network.network_info` reads it)."""
    data = run.data
    run.model.get_layer("crop_to_input").info = {
        "style": run.description,
        "backbone": run.loss.backbone.name,
        "precision": run.loss.precision,
        "steps": int(run.step.numpy()),
        "training_photos": list(data.names) if len(data) <= 50 else f"{len(data)} photographs",
        "held_out": list(HELD_OUT) if photos is None else [],
        "config": run.config.to_dict(),
        "library": "nst_helpers",
    }


def _result(run: _Training, loop: Loop, reason: str, message: str, path: str | None) -> TrainResult:
    """The :class:`TrainResult` of ``run``, ended for ``reason``."""
    return TrainResult(
        model=run.model,
        history=loop.history,
        start_step=run.start_step,
        step=int(run.step.numpy()),
        seconds=loop.seconds,
        setup_seconds=run.setup_seconds,
        compile_seconds=run.compile_seconds,
        backbone=run.loss.backbone.name,
        precision=str(run.loss.precision),
        config=run.config,
        stop_reason=reason,
        message=message,
        checkpoint=path,
    )
