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

The settings table
------------------
Every field of :class:`StyleConfig` is one row of a table (:mod:`nst_helpers.table`, whose names
this module re-exports): its name, its type (a ``Literal`` where it takes one of a few words), its
default, and its help, label, explorer tab, choices or check, slider span and ``nst stylize``
option, given through :func:`row`.

:data:`SETTINGS` holds the rows as :class:`Setting` objects (:func:`setting` finds one by name);
:meth:`StyleConfig.validate` checks every value against its row, so a new setting is one row here
plus its use in the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .choices import INITS, NORMALIZATIONS, OPTIMIZERS, POOLINGS, PRECISIONS, PRESERVE_COLORS
from .errors import NSTError
from .table import (
    BELOW_ONE,
    BOOLEAN,
    POSITIVE,
    POSITIVE_OR_NONE,
    SIDE,
    WHOLE,
    ZERO_OR_POSITIVE,
    Check,
    Setting,
    Table,
    at_least,
    row,
)

__all__ = [
    "BELOW_ONE",
    "BOOLEAN",
    "POSITIVE",
    "POSITIVE_OR_NONE",
    "PRESETS",
    "PRESET_WORDS",
    "SEED_STYLE_LAYERS",
    "SETTINGS",
    "SIDE",
    "WHOLE",
    "ZERO_OR_POSITIVE",
    "Check",
    "Init",
    "MaxSide",
    "Normalization",
    "Optimizer",
    "Pooling",
    "Precision",
    "PreserveColor",
    "Setting",
    "StyleConfig",
    "Table",
    "at_least",
    "preset",
    "row",
    "setting",
    "tab_settings",
]

SEED_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")

# Literal of a tuple: at run time the tuple's words (what the table reads); mypy cannot see them.
Normalization = Literal[NORMALIZATIONS]  # type: ignore[valid-type]
Optimizer = Literal[OPTIMIZERS]  # type: ignore[valid-type]
Init = Literal[INITS]  # type: ignore[valid-type]
Pooling = Literal[POOLINGS]  # type: ignore[valid-type]
Precision = Literal[PRECISIONS]  # type: ignore[valid-type]
PreserveColor = Literal[PRESERVE_COLORS] | None  # type: ignore[valid-type]
MaxSide = int | Literal["auto"] | None


@dataclass(frozen=True)
class StyleConfig(Table):
    """Hyperparameters of one run, one row of the settings table each. Change them with
    :meth:`replace` (validated)."""

    content_layers: tuple[str, ...] = row(
        ("block5_conv2",),
        "Where the content is compared. Deeper layers keep the layout but let details change.",
        label="content layer",
        short="content layer",
        tab="Layers",
    )
    style_layers: tuple[str, ...] = row(
        SEED_STYLE_LAYERS,
        "Where the style's Gram matrices are compared: shallow layers carry "
        "colour and grain, deep ones larger strokes.",
        short="style layers",
        tab="Layers",
    )
    style_layer_weights: tuple[float, ...] | None = row(
        None,
        "One weight per style layer; None means equal weights, 1/L each.",
        short="layer weights",
        tab="Layers",
    )
    content_weight: float = row(
        1e3,
        "How strongly the result must keep the content image's shapes.",
        label="content weight",
        short="content",
        tab="Weights",
        check=ZERO_OR_POSITIVE,
        span=(1e-3, 1e6),
        log=True,
        step=0.1,
        option="--content-weight",
    )
    style_weight: float = row(
        1e-2,
        "How strongly the result must match the style image's textures (Gram matrices). "
        "Only its ratio to the content weight matters.",
        label="style weight",
        short="style",
        tab="Weights",
        check=ZERO_OR_POSITIVE,
        span=(1e-5, 1e5),
        log=True,
        step=0.1,
        option="--style-weight",
    )
    tv_weight: float = row(
        0.0,
        "Weight of the total-variation (smoothness) loss; with the presets' weights it takes "
        "about 1e3 to 1e4 to remove speckle.",
        label="TV weight",
        short="TV",
        tab="Weights",
        check=ZERO_OR_POSITIVE,
        span=(1e-4, 1e6),
        log=True,
        step=0.1,
        option="--tv-weight",
    )
    normalization: Normalization = row(
        "seed",
        "How losses are scaled: 'seed' (means, as the original paper) or 'paper' (Gatys "
        "et al. 2016). The weights that work differ by orders of magnitude.",
        label="loss scaling",
        short="losses",
        tab="Layers",
        choices=NORMALIZATIONS,
    )
    optimizer: Optimizer = row(
        "adam",
        "Adam takes small steps along the gradient; L-BFGS uses curvature and needs far "
        "fewer steps.",
        tab="Optimiser",
        choices=OPTIMIZERS,
        titles={"adam": "Adam", "lbfgs": "L-BFGS"},
        option="--optimizer",
    )
    learning_rate: float = row(
        2.0,
        "Adam's step size in pixel values (0..255). Too large and the loss explodes.",
        label="learning rate",
        short="lr",
        tab="Optimiser",
        check=POSITIVE,
        span=(0.1, 100.0),
        log=True,
        step=0.05,
        option="--lr",
    )
    beta_1: float = row(
        0.99, "Adam's decay of its mean gradient (the seed's 0.99).", check=BELOW_ONE
    )
    beta_2: float = row(0.999, "Adam's decay of its mean squared gradient.", check=BELOW_ONE)
    epsilon: float = row(
        0.1,
        "Adam's epsilon (the seed's 0.1: steps stay small where the gradient is tiny).",
        check=POSITIVE,
    )
    steps: int = row(
        7500,
        "How many optimisation steps (for L-BFGS, loss evaluations).",
        tab="Optimiser",
        check=WHOLE,
        span=(1, 10000),
        option="--steps",
    )
    init: Init = row(
        "content",
        "Where the optimisation starts: the content image, random noise, noise with the "
        "style image's colours, or the content image recoloured with the style's colours (or "
        "pass init_image= to stylize()).",
        label="start from",
        tab="Optimiser",
        choices=INITS,
        option="--init",
    )
    seed: int = row(
        0,
        "Random seed of the noise start; the same seed gives the same picture.",
        tab="Optimiser",
        check=WHOLE,
        option="--seed",
    )
    max_side: MaxSide = row(
        "auto",
        "Longest side of the images in pixels: 'auto' (256 on a CPU, 512 on a GPU), or "
        "None to keep them. Time grows with the number of pixels.",
        label="image size",
        short="px",
        tab="Optimiser",
        check=SIDE,
        span=(32, 1024),
        step=32,
        option="--size",
    )
    pooling: Pooling = row(
        "max",
        "VGG's pooling: max (as trained) or average (Gatys et al. found it a little smoother).",
        tab="Layers",
        choices=POOLINGS,
        option="--pooling",
    )
    backbone: str = row(
        "auto",
        "The network: auto, vgg19, vgg16-hed, random[:SEED] or a weights file.",
        option="--backbone",
    )
    trainable: bool = row(
        False,
        "The seed's study toggled vgg.trainable. Only the image is optimised, so it cannot matter.",
    )
    preserve_color: PreserveColor = row(
        None,
        "Keep the content image's colours: luminance-only transfer or a histogram match of "
        "the style image (Gatys et al. 2017).",
        label="keep colours",
        short="colour",
        tab="Weights",
        choices=(None, *PRESERVE_COLORS),
        titles={None: "off"},
        option="--preserve-color",
    )
    precision: Precision = row(
        "float32",
        "The network's arithmetic. bfloat16 (the network only; the image, the "
        "optimiser and the losses stay float32) is about twice as fast on CPUs with AMX or "
        "AVX512-BF16 and on recent GPUs (slower elsewhere); L-BFGS then paints slightly "
        "different strokes of the same quality. auto: bfloat16 where the hardware has it.",
        tab="Optimiser",
        choices=PRECISIONS,
        option="--precision",
    )

    def check_together(self) -> None:
        """At least one content or style layer; one weight per style layer, none negative."""
        if not self.style_layers and not self.content_layers:
            raise NSTError("give at least one content or style layer.")
        if self.style_layer_weights is not None:
            if len(self.style_layer_weights) != len(self.style_layers):
                raise NSTError(
                    f"style_layer_weights has {len(self.style_layer_weights)} values for "
                    f"{len(self.style_layers)} style layers; give one weight per layer."
                )
            if any(w < 0 for w in self.style_layer_weights):
                raise NSTError("style_layer_weights must not be negative.")

    def layer_weights(self) -> dict[str, float]:
        """``{style layer: weight}``, equal weights ``1/L`` unless given."""
        if not self.style_layers:
            return {}
        w = self.style_layer_weights or (1.0 / len(self.style_layers),) * len(self.style_layers)
        return dict(zip(self.style_layers, (float(x) for x in w)))


#: The settings table of a run: ``{name: Setting}``, in the order of :class:`StyleConfig`'s fields.
SETTINGS = StyleConfig.settings()


def setting(name: str) -> Setting:
    """The row of the settings table called ``name``.

    Raises:
        NSTError: there is no such setting.
    """
    if name not in SETTINGS:
        raise NSTError(f"unknown setting {name}; valid: {', '.join(sorted(SETTINGS))}.")
    return SETTINGS[name]


def tab_settings(tab: str) -> list[Setting]:
    """The rows shown on the explorer tab ``tab`` (``"Weights"``, ``"Optimiser"``, ``"Layers"``),
    in the table's order."""
    return [s for s in SETTINGS.values() if s.tab == tab]


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
    # bfloat16 where the hardware has it: the same quality (its picture's float32 loss), sooner.
    "fast": dict(
        optimizer="lbfgs",
        steps=150,
        max_side=256,
        style_weight=1e-2,
        tv_weight=0.0,
        precision="auto",
    ),
}


#: What each preset is, in a sentence (the command line's help).
PRESET_WORDS = {
    "fast": "Good results in a minute or two on a laptop CPU",
    "seed": "The 2021 course paper's algorithm exactly; its 7500 Adam steps take over an hour on "
    "a CPU",
    "gatys": "Gatys et al. (2016): the paper's content layer and normalisation",
}


def preset(name: str | StyleConfig = "seed", **changes: Any) -> StyleConfig:
    """The named preset (``seed``, ``gatys`` or ``fast``), with optional ``changes``.

    Args:
        name: a preset's name, or a :class:`StyleConfig` to change.
        **changes: settings that replace the preset's (validated).

    Raises:
        NSTError: an unknown preset, an unknown setting or a bad value.
    """
    if isinstance(name, StyleConfig):
        return name.replace(**changes) if changes else name
    if name not in PRESETS:
        raise NSTError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return StyleConfig().replace(**{**PRESETS[name], **changes})
