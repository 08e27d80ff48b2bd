"""Every hyperparameter of a style-transfer run, with explicit defaults and named presets.

``StyleConfig()`` is the seed's algorithm exactly (the 2021 course paper): content layer
``block5_conv2``, style layers ``block1_conv1`` … ``block5_conv1`` with equal weights, images in VGG
"caffe" space clipped each step, Gram matrices divided by positions, mean-squared-error losses, Adam
with learning rate 2, β1 0.99, ε 0.1, content weight 1e3, style weight 1e-2, 7500 steps.

Presets (:func:`preset`):

``seed``   the above.
``gatys``  Gatys et al. (2016): content ``block4_conv2``, the paper's normalisation and its ratio
           of content to style weight (1e-3), L-BFGS.
``fast``   good results in a minute or two on a laptop CPU: the seed's losses, L-BFGS, 256 px.
"""

import dataclasses
from dataclasses import dataclass

from .errors import NSTError

_FLOATS = ("content_weight", "style_weight", "tv_weight", "learning_rate", "beta_1", "beta_2", "epsilon")
SEED_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


@dataclass(frozen=True)
class StyleConfig:
    """Hyperparameters of one run. Change them with :meth:`replace` (validated)."""

    content_layers: tuple = ("block5_conv2",)
    style_layers: tuple = SEED_STYLE_LAYERS
    #: Per-style-layer weights (same length as ``style_layers``); ``None`` means equal, 1/L each.
    style_layer_weights: tuple = None
    content_weight: float = 1e3
    style_weight: float = 1e-2
    tv_weight: float = 0.0
    normalization: str = "seed"  # "seed" or "paper", see nst_helpers.losses
    optimizer: str = "adam"  # "adam" or "lbfgs"
    learning_rate: float = 2.0
    beta_1: float = 0.99
    beta_2: float = 0.999
    epsilon: float = 0.1
    steps: int = 7500
    init: str = "content"  # "content", "noise" or "style"; or pass init_image= to stylize()
    seed: int = 0
    max_side: object = "auto"  # longest side in pixels, "auto" (256 on CPU, 512 on GPU) or None
    pooling: str = "max"  # "max" or "avg"
    backbone: str = "auto"
    #: The seed's study toggled ``vgg.trainable``. Only the image is optimised, so it cannot matter.
    trainable: bool = False
    #: Colour preservation (Gatys et al. 2017): None, "luminance" or "histogram".
    preserve_color: str = None
    #: The network's arithmetic: "float32", or "bfloat16" (the network only; the image, the
    #: optimiser and the losses stay float32). bfloat16 is about twice as fast on CPUs with AMX or
    #: AVX512-BF16 and on recent GPUs; L-BFGS then paints slightly different strokes.
    precision: str = "float32"

    def replace(self, **changes):
        """A copy with ``changes`` applied; unknown names or bad values raise :class:`NSTError`."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise NSTError(
                f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(names))}."
            )
        for key in ("content_layers", "style_layers", "style_layer_weights"):
            if isinstance(changes.get(key), str):
                changes[key] = (changes[key],)
            elif changes.get(key) is not None:
                changes[key] = tuple(changes[key])
        for key in _FLOATS:
            if key in changes:
                try:
                    changes[key] = float(changes[key])
                except (TypeError, ValueError):
                    raise NSTError(f"{key} must be a number, not {changes[key]!r}.") from None
        if "steps" in changes and isinstance(changes["steps"], float) and changes["steps"].is_integer():
            changes["steps"] = int(changes["steps"])
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self):
        """Raise :class:`NSTError` with a one-line reason if a value is out of range."""
        def bad(msg):
            raise NSTError(msg)

        if not self.style_layers and not self.content_layers:
            bad("give at least one content or style layer.")
        if self.style_layer_weights is not None:
            if len(self.style_layer_weights) != len(self.style_layers):
                bad(
                    f"style_layer_weights has {len(self.style_layer_weights)} values for "
                    f"{len(self.style_layers)} style layers; give one weight per layer."
                )
            if any(w < 0 for w in self.style_layer_weights):
                bad("style_layer_weights must not be negative.")
        for key in ("content_weight", "style_weight", "tv_weight"):
            if not getattr(self, key) >= 0:
                bad(f"{key} must be zero or positive, not {getattr(self, key)}.")
        if not self.learning_rate > 0:
            bad(f"learning_rate must be positive, not {self.learning_rate}.")
        if not (0 <= self.beta_1 < 1 and 0 <= self.beta_2 < 1):
            bad("beta_1 and beta_2 must lie in [0, 1).")
        if not self.epsilon > 0:
            bad("epsilon must be positive.")
        for key in ("steps", "seed"):  # whole numbers; None, text, NaN and True are refused
            value = getattr(self, key)
            if isinstance(value, bool) or not hasattr(value, "__index__") and not isinstance(
                    value, float) or not (
                    value >= 0 and value == value // 1 and value != float("inf")):
                bad(f"{key} must be a whole number >= 0, not {value!r}.")
        choices = {
            "normalization": ("seed", "paper"),
            "optimizer": ("adam", "lbfgs"),
            "init": ("content", "noise", "style"),
            "pooling": ("max", "avg"),
            "preserve_color": (None, "luminance", "histogram"),
            "precision": ("float32", "bfloat16"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                bad(f"{key} must be one of {', '.join(map(str, allowed))}, not {getattr(self, key)!r}.")
        ms = self.max_side
        if not (ms is None or ms == "auto" or (isinstance(ms, int) and ms >= 32)):
            bad(f"max_side must be 'auto', None or a whole number >= 32, not {ms!r}.")
        return self

    def layer_weights(self):
        """``{style layer: weight}``, equal weights ``1/L`` unless given."""
        if not self.style_layers:
            return {}
        w = self.style_layer_weights or (1.0 / len(self.style_layers),) * len(self.style_layers)
        return dict(zip(self.style_layers, (float(x) for x in w)))

    def to_dict(self):
        """Plain dict, for JSON reports."""
        return dataclasses.asdict(self)


PRESETS = {
    "seed": {},
    "gatys": dict(
        content_layers=("block4_conv2",),
        normalization="paper",
        optimizer="lbfgs",
        content_weight=1.0,
        # The paper's own ratio, alpha/beta = 1e-3, tuned on VGG19 (docs/tuning.md): 10 and 100
        # give a fine, noisy texture without the painting's strokes; 1000 paints them.
        style_weight=1000.0,
        steps=300,
    ),
    "fast": dict(optimizer="lbfgs", steps=150, max_side=256, style_weight=1e-2, tv_weight=0.0),
}


def preset(name="seed", **changes):
    """The named preset (``seed``, ``gatys`` or ``fast``), with optional ``changes``."""
    if isinstance(name, StyleConfig):
        return name.replace(**changes) if changes else name
    if name not in PRESETS:
        raise NSTError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return StyleConfig().replace(**{**PRESETS[name], **changes})
