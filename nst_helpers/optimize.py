"""Optimising the image: the compiled Adam loop and L-BFGS.

Gatys et al. (2016) start from an image and change its pixels, never the network, until its VGG
features match the content image's at the content layers and its Gram matrices match the style
image's at the style layers. :func:`stylize` does that and returns a :class:`StyleResult` with the
best image found, the loss history, the timings and the name of the backbone that made it.

Both optimisers keep the image in VGG space and inside the range of real pixels: Adam by clipping
after each step, as the seed did; L-BFGS-B (scipy) with bounds. Adam runs many steps per call of one
``tf.function``, so Python does no work per step; the best image is tracked inside the graph.
"""

import gc
import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import losses
from ._tf import tf as _tf
from .backbone import bfloat16_hardware, load_backbone, resolve_precision
from .config import StyleConfig, preset
from .errors import NSTError
from .images import VGG_MAX, VGG_MIN, check_folder, from_vgg, load_image, resize, save_image, to_vgg

tf = _tf()
import keras  # noqa: E402

LOSS_NAMES = ("total", "content", "style", "tv")


def _forget_custom_gradients(graph):
    """Drop the gradient functions that tracing ``graph`` left in TensorFlow's global registry.

    The backbone's fast convolutions use ``tf.custom_gradient``. Traced into a graph, each use
    registers its gradient function process-wide under a new name, and TensorFlow never removes
    it: the entry holds the traced graph and every tensor it captured, about 110 MB per
    :func:`stylize` call with VGG19. The gradients were built into ``graph`` while it was traced,
    so its entries serve nothing afterwards. Only entries whose tensors belong to ``graph`` (or to
    a graph nested in it, such as a loop's body) are dropped, so other threads' traces are left
    alone. This reads TensorFlow internals; where they differ, nothing is dropped.

    Args:
        graph: the ``FuncGraph`` of a traced concrete function.

    Returns:
        How many entries were dropped.
    """
    try:
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


def _trace(function, *specs):
    """Trace ``function`` for ``specs`` once; return its concrete function and the seconds taken.

    The run calls the concrete function itself, so nothing is traced again, and the global
    entries the trace left behind are dropped (:func:`_forget_custom_gradients`).
    """
    t = time.perf_counter()
    concrete = function.get_concrete_function(*specs)
    _forget_custom_gradients(concrete.graph)
    return concrete, time.perf_counter() - t


class StopRun(Exception):
    """Raise from a callback to end a run early; the best image so far is kept."""


@dataclass
class Progress:
    """What a callback sees every ``callback_every`` steps."""

    step: int
    steps: int
    losses: dict
    elapsed: float
    best_loss: float
    _x: object = field(repr=False, default=None)

    def image(self):
        """The current image as ``uint8`` RGB (converted only when asked for)."""
        return from_vgg(self._x)

    @property
    def seconds_left(self):
        return self.elapsed / max(self.step, 1) * (self.steps - self.step)


@dataclass
class StyleResult:
    """The outcome of :func:`stylize`."""

    image: np.ndarray  # best image, uint8 RGB
    best_loss: float
    best_step: int
    history: dict  # "total", "content", "style", "tv": one value per step (weighted)
    steps: int  # steps done
    seconds: float  # optimisation time, without set-up and compilation
    setup_seconds: float
    compile_seconds: float
    backbone: str
    config: StyleConfig
    stop_reason: str = "finished"  # finished, converged, interrupted, stopped or diverged
    message: str = ""
    frames: list = field(default_factory=list, repr=False)  # [(step, uint8 image)]
    #: Coarse-to-fine only: one summary dict per stage (size, steps, seconds, best loss, reason).
    stages: list = field(default_factory=list, repr=False)

    @property
    def interrupted(self):
        return self.stop_reason in ("interrupted", "stopped")

    @property
    def seconds_per_step(self):
        return self.seconds / self.steps if self.steps else float("nan")

    def report(self):
        """A JSON-ready summary of the run, standard JSON: no ``NaN`` or ``Infinity``.

        A loss that overflowed or became NaN is written as ``null``; ``"not_finite"`` then says
        which values were what (for example ``{"best_loss": "infinite"}``). A coarse-to-fine
        result adds its ``"stages"``.
        """
        h, w = self.image.shape[:2]
        return _finite_json({
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
        })

    def save(self, path, force=False):
        """Save the best image as PNG with the backbone and settings stored in it."""
        meta = {"backbone": self.backbone, "nst_config": self.config.to_dict(),
                "best_loss": self.best_loss, "steps": self.steps}
        return save_image(self.image, path, force=force, metadata=meta)

    def __repr__(self):
        h, w = self.image.shape[:2]
        return (f"StyleResult({w}x{h}, backbone={self.backbone}, {self.config.precision}, "
                f"steps={self.steps}, "
                f"best_loss={self.best_loss:.4g}, seconds={self.seconds:.1f}, "
                f"stop_reason={self.stop_reason!r})")


def _finite_json(data):
    """``data`` with every NaN or infinite float replaced by ``None``, and the reason recorded.

    JSON has no NaN or Infinity (Python writes them, but ``jq`` and JavaScript reject the file), so
    each such value becomes ``null`` and ``data["not_finite"]`` maps its key to ``"NaN"`` or
    ``"infinite"`` (for a list, how many of its values were not finite).
    """
    reasons = {}

    def clean(value, key):
        if isinstance(value, float) and _not_finite(value):
            reasons[key] = _not_finite(value)
            return None
        if isinstance(value, dict):
            return {k: clean(v, f"{key}.{k}" if key else k) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            bad = sum(isinstance(v, float) and _not_finite(v) is not None for v in value)
            out = [None if isinstance(v, float) and _not_finite(v) else clean(v, key)
                   for v in value]
            if bad:
                reasons[key] = f"{bad} of {len(value)} values NaN or infinite"
            return out
        return value

    out = clean(data, "")
    if reasons:
        out["not_finite"] = reasons
    return out


def as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


class Problem:
    """The fixed part of a run: targets, masks and the loss function of an image in VGG space."""

    def __init__(self, content, style, config, style_blend=None, style_masks=None, verbose=True):
        if config.precision == "auto":  # the result says which arithmetic made it
            config = config.replace(precision=resolve_precision("auto"))
        self.config = config
        side = config.max_side
        self.content = load_image(content, max_side=side, name="content image")
        styles = as_list(style)
        if not styles:
            raise NSTError("give at least one style image.")
        # Cheap checks first, so bad values fail before the network is loaded.
        self.blend = self._blend(style_blend, len(styles), masked=style_masks is not None)
        full_masks = self._masks(style_masks, len(styles))
        self.styles = [
            load_image(s, max_side=side, name=f"style image {i + 1}" if len(styles) > 1 else "style image")
            for i, s in enumerate(styles)
        ]
        #: The content image in colour; ``self.content`` is what the network sees (grey with
        #: ``preserve_color="luminance"``).
        self.color_content = self.content
        if config.preserve_color == "histogram":  # recolour the styles with the content's colours
            from .color import match_histogram

            self.styles = [match_histogram(s, self.content) for s in self.styles]
        elif config.preserve_color == "luminance":  # transfer on luminance only (Gatys et al. 2017)
            from .color import luminance_image

            self.styles = [luminance_image(s, like=self.content) for s in self.styles]
            self.content = luminance_image(self.content)
        self.backbone = load_backbone(config.backbone, verbose=verbose)
        layers = list(config.content_layers) + list(config.style_layers)
        self.backbone.check_layers(layers)
        self.extractor = self.backbone.extractor(layers, pooling=config.pooling,
                                                 trainable=config.trainable,
                                                 precision=config.precision)
        if verbose and config.precision == "bfloat16" and not bfloat16_hardware():
            print("Note: this CPU has no bfloat16 instructions (AMX or AVX512-BF16), so "
                  "precision='bfloat16' will be slower than float32 here.")
        content_feats = self.extractor(to_vgg(self.content))
        self.content_targets = {l: tf.constant(content_feats[l]) for l in config.content_layers}
        self.layer_weights = config.layer_weights()
        self.style_grams = []
        for img in self.styles:
            feats = self.extractor(to_vgg(img))
            self.style_grams.append(
                {l: tf.constant(losses.gram_matrix(feats[l])) for l in config.style_layers}
            )
        #: Per style: None (everywhere) or ``{style layer: (h, w) mask at that layer's resolution}``.
        self.masks = [
            None if m is None else {
                l: tf.constant(tf.image.resize(m[..., None], content_feats[l].shape[1:3],
                                               method="area")[..., 0])
                for l in config.style_layers
            }
            for m in full_masks
        ]

    @staticmethod
    def _blend(blend, n, masked=False):
        """One weight per style. Without masks they are shares, scaled to sum to 1 (default equal);
        with masks each style rules its own region, so the weights are used as given (default 1)."""
        if blend is None:
            return [1.0] * n if masked else [1.0 / n] * n
        try:
            blend = [float(b) for b in as_list(blend)]
        except (TypeError, ValueError):
            raise NSTError(f"style_blend must be numbers, one per style image, not {blend!r}.") from None
        if len(blend) != n:
            raise NSTError(f"style_blend has {len(blend)} weight{'s' if len(blend) != 1 else ''} "
                           f"for {n} style image{'s' if n != 1 else ''}; give one per style.")
        if any(not math.isfinite(b) or b < 0 for b in blend) or sum(blend) <= 0:
            raise NSTError(f"style_blend weights must be zero or positive, and not all zero, not {blend}.")
        if masked:
            return blend
        total = sum(blend)
        return [b / total for b in blend]

    def _masks(self, masks, n):
        """Check the style masks and bring them to the content image's size.

        Returns one ``(H, W)`` float32 array in [0, 1] (or None, for everywhere) per style. A mask
        may be an array, a PIL image or an image file (white = this style, black = not); one with
        the content image's aspect ratio but another size is resized.
        """
        if masks is None:
            return [None] * n
        if not isinstance(masks, (list, tuple)):  # one mask, for a single style
            masks = [masks]
        masks = list(masks)
        if len(masks) != n:
            raise NSTError(f"style_masks has {len(masks)} mask{'s' if len(masks) != 1 else ''} for "
                           f"{n} style image{'s' if n != 1 else ''}; give one per style "
                           "(None for everywhere).")
        h, w = self.content.shape[:2]
        out = []
        for i, m in enumerate(masks):
            name = f"style mask {i + 1}"
            if m is None:
                out.append(None)
                continue
            if not isinstance(m, np.ndarray) and not hasattr(m, "numpy"):
                if isinstance(m, (list, tuple)):
                    m = np.asarray(m)
                else:  # a path, a PIL image or bytes: any image load_image reads
                    m = load_image(m, max_side=None, name=name).astype(np.float32) / 255.0
            m = np.asarray(m.numpy() if hasattr(m, "numpy") else m)
            if m.dtype == np.bool_:
                m = m.astype(np.float32)
            if not np.issubdtype(m.dtype, np.number):
                raise NSTError(f"{name}: a {m.dtype} array is not a mask; give numbers in [0, 1].")
            m = m.astype(np.float32)
            if m.ndim == 3 and m.shape[-1] in (1, 3, 4):
                m = m[..., :3].mean(axis=-1)
            if m.ndim != 2:
                raise NSTError(f"{name} has shape {m.shape}; give a 2-D (height, width) mask.")
            if not np.isfinite(m).all():
                raise NSTError(f"{name} holds NaN or infinite values.")
            if m.min() < 0:
                raise NSTError(f"{name} has negative values; give values in [0, 1] (or 0 to 255).")
            if m.max() > 1.0:
                m = m / 255.0 if m.max() <= 255.0 else m / m.max()
            if m.shape != (h, w):
                if min(m.shape) < 2 or abs(m.shape[0] / m.shape[1] - h / w) > 0.02 * (h / w):
                    raise NSTError(
                        f"{name} is {m.shape[1]}x{m.shape[0]} px but the content image is "
                        f"{w}x{h} px; give a mask with the content image's size or aspect ratio."
                    )
                m = tf.image.resize(m[..., None], (h, w), method="area").numpy()[..., 0]
            if not m.max() > 0:
                raise NSTError(f"{name} is empty (all zero): that style would apply nowhere.")
            out.append(np.clip(m, 0.0, 1.0).astype(np.float32))
        return out

    def losses(self, x):
        """``(total, content, style, tv)`` of the VGG-space image ``x``, weights applied."""
        cfg = self.config
        feats = self.extractor(x)
        content = 0.0
        for l in cfg.content_layers:
            content += losses.content_loss(feats[l], self.content_targets[l], cfg.normalization)
        content = cfg.content_weight * content / max(len(cfg.content_layers), 1)
        style = 0.0
        for blend, grams, masks in zip(self.blend, self.style_grams, self.masks):
            if blend:
                style += blend * losses.style_loss(feats, grams, self.layer_weights,
                                                   cfg.normalization, masks)
        style = cfg.style_weight * style
        tv = cfg.tv_weight * losses.total_variation_loss(x) if cfg.tv_weight else tf.constant(0.0)
        content = tf.convert_to_tensor(content, tf.float32)
        style = tf.convert_to_tensor(style, tf.float32)
        return content + style + tv, content, style, tv

    def style_layer_losses(self, image):
        """Each style layer's share of the weighted style loss of ``image`` (uint8 RGB, or VGG space
        ``(1, H, W, 3)``): ``{layer: style_weight * w_l * E_l}``, summed over the style images with
        their blend weights. The values add up to the style term of :meth:`losses`.
        """
        x = to_vgg(image) if np.asarray(image).dtype == np.uint8 else image
        cfg = self.config
        feats = self.extractor(x)
        out = {}
        for layer in cfg.style_layers:
            value = 0.0
            for blend, grams, masks in zip(self.blend, self.style_grams, self.masks):
                if blend:
                    value += blend * self.layer_weights[layer] * float(losses.style_layer_loss(
                        feats[layer], grams[layer], cfg.normalization,
                        None if masks is None else masks[layer]))
            out[layer] = cfg.style_weight * value
        return out

    def initial_image(self, init_image=None):
        """The starting image in VGG space: content, seeded noise, style statistics or a given one.

        ``"noise"`` is uniform noise and ``"style"`` Gaussian noise with the style images' colour
        mean and spread (blend-weighted); both are drawn from ``config.seed``, so the same seed gives
        the same start. With ``preserve_color="luminance"`` the start is turned grey like the rest.
        """
        h, w = self.content.shape[:2]
        if init_image is not None:
            img = load_image(init_image, max_side=None, name="init image")
            if img.shape[:2] != (h, w):
                img = resize(img, size=(h, w))
        elif self.config.init == "content":
            img = self.content
        elif self.config.init == "noise":
            rng = np.random.default_rng(int(self.config.seed))
            img = rng.uniform(0, 255, size=(h, w, 3)).round().astype(np.uint8)
        else:  # "style": noise with the styles' colour statistics
            weights = np.asarray(self.blend, np.float64) / sum(self.blend)
            pixels = [s.reshape(-1, 3).astype(np.float64) for s in self.styles]
            mean = sum(wt * p.mean(0) for wt, p in zip(weights, pixels))
            second = sum(wt * (p.var(0) + p.mean(0) ** 2) for wt, p in zip(weights, pixels))
            std = np.sqrt(np.maximum(second - mean ** 2, 0.0)) + 1e-3
            rng = np.random.default_rng(int(self.config.seed))
            img = np.clip(rng.normal(mean, std, size=(h, w, 3)), 0, 255).round().astype(np.uint8)
        if self.config.preserve_color == "luminance" and img is not self.content:
            from .color import luminance_image

            img = luminance_image(img)
        return to_vgg(img)


def _progress_bar(total, desc, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=True)


#: A run has diverged when its loss is NaN or infinite, or was above this many times its starting
#: value at two or more of the last ``_PATIENCE`` evaluations. The image is clipped to real pixels,
#: so at a sane learning rate the loss never climbs far above where it started, while a far too
#: large one throws it that high again and again (or to NaN); one L-BFGS line-search probe that
#: rises is not a divergence.
EXPLODE = 20.0
_PATIENCE = 5


def _diverged(values):
    """The one divergence rule of both optimisers (see :data:`EXPLODE`)."""
    if not values:
        return False
    if not math.isfinite(values[-1]):
        return True
    first = values[0]
    return first > 0 and sum(v > EXPLODE * first for v in values[-_PATIENCE:]) >= 2


def _not_finite(value):
    """``"NaN"`` or ``"infinite"`` for a non-finite number, else ``None``."""
    return "NaN" if math.isnan(value) else None if math.isfinite(value) else "infinite"


#: Which setting weights each loss term, to name it in messages.
_WEIGHTS = {"content": "content_weight", "style": "style_weight", "tv": "tv_weight"}


def _start_cause(history, cfg):
    """Why the loss of the starting image is NaN or infinite, from its terms; None when it is finite.

    No step has been taken yet, so the learning rate cannot be the cause: an infinite term means
    its weight lifts it past float32's range (3.4e38); a NaN term with no infinite one means an
    input (an image or a mask) gives NaN.
    """
    if not history["total"] or _not_finite(history["total"][0]) is None:
        return None
    terms = {k: history[k][0] for k in _WEIGHTS if history[k]}
    infinite = [k for k, v in terms.items() if _not_finite(v) == "infinite"]
    if infinite:
        names = " and ".join(f"{_WEIGHTS[k]}={getattr(cfg, _WEIGHTS[k]):g}" for k in infinite)
        return (f"the {' and '.join(infinite)} loss of the starting image is already infinite "
                f"(beyond float32's 3.4e38): {names} is too large; lower it by several "
                "orders of magnitude.")
    nan = [k for k, v in terms.items() if _not_finite(v) == "NaN"] or ["total"]
    return (f"the {' and '.join(nan)} loss of the starting image is already NaN with finite "
            "weights: an input gives NaN; check the images and masks (and the weights' values).")


def _divergence_message(step, cfg, history):
    """What ended a diverged run, and what to change, from the numbers in ``history``."""
    cause = _start_cause(history, cfg)
    if cause is not None:
        return f"The loss was {_not_finite(history['total'][0])} before the first step: {cause}"
    kind = next((_not_finite(v) for v in history["total"] if _not_finite(v)), None)
    what = f"became {kind}" if kind else f"grew to {EXPLODE:g} times its start"
    if cfg.optimizer == "lbfgs":
        advice = "lower the style or content weight, or use optimizer='adam'."
    else:
        advice = f"learning_rate={cfg.learning_rate:g} is too large: try {cfg.learning_rate / 4:g}."
    return f"The loss {what} at step {step}; {advice}"


def frame_path(frames_dir, step):
    """Where the frame of ``step`` goes in ``frames_dir``: ``frame_00050.png``."""
    import pathlib

    return pathlib.Path(frames_dir).expanduser() / f"frame_{int(step):05d}.png"


def check_frames_dir(frames_dir, frames_every, steps, force=False):
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
    import pathlib

    folder = pathlib.Path(frames_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise NSTError(f"{folder}: is a file, not a folder for the frames; give a folder.")
    check_folder(folder)
    if force or not frames_every or not folder.is_dir():
        return folder
    taken = [p.name for p in (frame_path(folder, k) for k in range(frames_every, int(steps) + 1,
                                                                   frames_every)) if p.exists()]
    if taken:
        more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
        raise NSTError(f"{folder}: already holds {taken[0]}{more}, which this run would write; "
                       "choose another folder or pass force=True (--force).")
    return folder


@dataclass
class _Outcome:
    """What an optimiser hands back to :func:`stylize`: the best image and why it stopped."""

    x: object  # the best image, VGG space
    loss: float
    step: int
    compile_seconds: float
    reason: str = "finished"  # finished, converged, interrupted, stopped or diverged
    message: str = ""


class _Stop(Exception):
    """Ends an optimisation from inside an evaluation, with the reason (stopped, diverged, ...)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class _Loop:
    """The skeleton both optimisers share: history, boundaries, callbacks, frames, stopping.

    A *boundary* is a step at which the run looks up from optimising: every ``callback_every``
    steps (callback and ``should_stop``), every ``frames_every`` steps (a frame) and at the last
    step. Adam runs compiled chunks from one boundary to the next; L-BFGS checks each evaluation.
    """

    def __init__(self, problem, steps, callback=None, callback_every=10, frames_every=None,
                 frames_dir=None, should_stop=None, progress=False, desc="", force=False,
                 frame_transform=None):
        self.problem = problem
        self.steps = steps
        self.callback = callback
        self.callback_every = callback_every
        self.frames_every = frames_every
        self.frames_dir = frames_dir
        self.force = force
        #: Applied to each frame before it is kept and written (colour preservation's recolouring).
        self.frame_transform = frame_transform
        self.frame_error = ""  # why frames stopped being written, if they did
        self.should_stop = should_stop
        self.history = {k: [] for k in LOSS_NAMES}
        self.frames = []
        self.step = 0
        self.start = None
        self.seconds = 0.0  # optimisation time, set by run()
        self.bar = _progress_bar(steps, desc, progress)

    def next_boundary(self, step):
        """The first boundary after ``step``."""
        stops = [self.steps] + [(step // k + 1) * k for k in (self.callback_every, self.frames_every)
                                if k]
        return min(stops)

    def is_boundary(self, step):
        return step == self.steps or any(k and step % k == 0 for k in (self.callback_every,
                                                                       self.frames_every))

    def record(self, rows):
        for row in np.atleast_2d(rows):
            for k, v in zip(LOSS_NAMES, row):
                self.history[k].append(float(v))
        if self.bar is not None:
            self.bar.update(len(np.atleast_2d(rows)))
            self.bar.set_postfix(loss=f"{self.history['total'][-1]:.4g}", refresh=False)

    def check(self):
        """Raise :class:`_Stop` if the loss has diverged (:func:`_diverged`)."""
        if _diverged(self.history["total"]):
            raise _Stop("diverged")

    def boundary(self, x, best_loss):
        """Frames, callback and stop request at a boundary; raises :class:`_Stop` to stop."""
        if self.frames_every and self.step % self.frames_every == 0:
            frame = from_vgg(x)
            if self.frame_transform is not None:
                frame = self.frame_transform(frame)
            self.frames.append((self.step, frame))
            if self.frames_dir is not None:
                self.write_frame(self.step, frame)
        if self.callback is not None and (
            self.step == self.steps or self.callback_every and self.step % self.callback_every == 0
        ):
            last = {k: v[-1] for k, v in self.history.items()}
            info = Progress(self.step, self.steps, last, time.perf_counter() - self.start,
                            best_loss, x)
            try:
                self.callback(info)
            except StopRun:
                raise _Stop("stopped") from None
        if self.should_stop is not None and self.should_stop():
            raise _Stop("stopped")

    def write_frame(self, step, frame):
        """Save a frame; if that fails (the disk, another program), go on without saving more."""
        try:
            save_image(frame, frame_path(self.frames_dir, step), force=self.force)
        except NSTError as err:
            self.frame_error = f"Frames were no longer saved from step {step}: {err}"
            self.frames_dir = None

    def run(self, body):
        """Run ``body()`` (which returns the reason it ended) and say how the run ended.

        The one place where Ctrl-C and stop requests are caught, for both optimisers.
        """
        self.start = time.perf_counter()
        try:
            reason, message = body(), ""
        except _Stop as stop:
            reason, message = stop.reason, ""
        except KeyboardInterrupt:
            reason = "interrupted"
            message = f"Interrupted at step {self.step}; kept the best image so far."
        if reason == "diverged":
            message = _divergence_message(self.step, self.problem.config, self.history)
        self.seconds = time.perf_counter() - self.start
        return reason, message

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _run_adam(problem, x0, loop):
    cfg = problem.config
    x = tf.Variable(x0, dtype=tf.float32, name="image")
    best_x = tf.Variable(x0, dtype=tf.float32, name="best_image")
    best_loss = tf.Variable(np.inf, dtype=tf.float32)
    best_step = tf.Variable(0, dtype=tf.int64)
    opt = keras.optimizers.Adam(learning_rate=cfg.learning_rate, beta_1=cfg.beta_1,
                                beta_2=cfg.beta_2, epsilon=cfg.epsilon)
    opt.build([x])
    lo, hi = tf.constant(VGG_MIN), tf.constant(VGG_MAX)

    @tf.function(reduce_retracing=True)
    def run(n, offset):
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

    run, compile_seconds = _trace(run, tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32))

    def body():
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
    return _Outcome(best_x, float(best_loss.numpy()), int(best_step.numpy()), compile_seconds,
                    reason, message)


def _run_lbfgs(problem, x0, loop):
    from scipy.optimize import Bounds, minimize
    from threadpoolctl import threadpool_limits

    shape = tuple(x0.shape)

    @tf.function(reduce_retracing=True)
    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total, content, style, tv = problem.losses(x)
        return tf.stack([total, content, style, tv]), tape.gradient(total, x)

    value_and_grad, compile_seconds = _trace(value_and_grad, tf.TensorSpec(shape, tf.float32))
    best = {"loss": np.inf, "x": np.asarray(x0), "step": 0}

    def fun(flat):
        if loop.step >= loop.steps:  # scipy may ask for one more evaluation than allowed
            raise _Stop("finished")
        x = tf.constant(flat.reshape(shape), tf.float32)
        values, grad = value_and_grad(x)
        values = values.numpy()
        total = float(values[0])
        if total < best["loss"]:
            best.update(loss=total, x=flat.reshape(shape).astype(np.float32), step=loop.step)
        loop.step += 1
        loop.record(values)
        loop.check()
        if loop.is_boundary(loop.step):
            loop.boundary(x, best["loss"])
        return total, grad.numpy().astype(np.float64).ravel()

    lo = np.broadcast_to(VGG_MIN, shape).ravel().astype(np.float64)
    hi = np.broadcast_to(VGG_MAX, shape).ravel().astype(np.float64)

    def body():
        # scipy's L-BFGS-B does its vector algebra with BLAS. Between evaluations BLAS's worker
        # threads spin and take the cores TensorFlow needs, which made each evaluation 30 %
        # slower on two cores; one BLAS thread is as fast for these vector operations.
        with threadpool_limits(limits=1, user_api="blas"):
            out = minimize(fun, np.asarray(x0, np.float64).ravel(), jac=True, method="L-BFGS-B",
                           bounds=Bounds(lo, hi),
                           options={"maxiter": loop.steps, "maxfun": loop.steps, "maxcor": 20})
        return "converged" if loop.step < loop.steps and out.status == 0 else "finished"

    reason, message = loop.run(body)
    return _Outcome(best["x"], float(best["loss"]), best["step"], compile_seconds, reason, message)


def stylize(content, style, config="fast", *, style_blend=None, style_masks=None, init_image=None,
            callback=None, callback_every=10, frames_every=None, frames_dir=None, progress=True,
            should_stop=None, verbose=True, force=False, **changes):
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
    if callback_every is not None and (int(callback_every) != callback_every or callback_every < 1):
        raise NSTError(f"callback_every must be a whole number >= 1, not {callback_every}.")
    if frames_every is not None and (int(frames_every) != frames_every or frames_every < 1):
        raise NSTError(f"frames_every must be a whole number >= 1, not {frames_every}.")
    if frames_dir is not None:
        check_frames_dir(frames_dir, frames_every, cfg.steps, force=force)
    # An earlier run's Keras model, traced functions and graphs sit in reference cycles, which
    # Python's collector (counting objects, not bytes) may leave for many runs: about 1.6 GB after
    # the 56 runs of tests/test_controls.py. Collect them before building the next one.
    gc.collect()
    t0 = time.perf_counter()
    problem = Problem(content, style, cfg, style_blend, style_masks, verbose=verbose)
    x0 = problem.initial_image(init_image)
    setup_seconds = time.perf_counter() - t0

    desc = "L-BFGS" if cfg.optimizer == "lbfgs" else "Adam"
    frame_transform = None
    if cfg.preserve_color == "luminance":  # the grey image's luminance, the content's colours
        from .color import transfer_luminance

        def frame_transform(image):
            return transfer_luminance(image, problem.color_content)

    loop = _Loop(problem, int(cfg.steps), callback, callback_every, frames_every, frames_dir,
                 should_stop, progress, f"{desc} [{problem.backbone.name}]", force=force,
                 frame_transform=frame_transform)
    runner = _run_lbfgs if cfg.optimizer == "lbfgs" else _run_adam
    try:
        out = runner(problem, x0, loop)
    finally:
        loop.close()
    message = out.message
    if message and verbose:
        print(message)
    image = from_vgg(out.x)
    if frame_transform is not None:
        image = frame_transform(image)
    if loop.frame_error:
        message = f"{message} {loop.frame_error}".strip()
        if verbose:
            print(loop.frame_error)
    return StyleResult(
        image=image, best_loss=out.loss, best_step=out.step, history=loop.history,
        steps=loop.step, seconds=loop.seconds, setup_seconds=setup_seconds,
        compile_seconds=out.compile_seconds, backbone=problem.backbone.name, config=problem.config,
        stop_reason=out.reason, message=message, frames=loop.frames,
    )
