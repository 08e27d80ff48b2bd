"""The settings of a network's training: one table, like a stylisation's.

:class:`TrainConfig` is a :class:`nst_helpers.table.Table`: every setting is a row with its type,
default, help, check and ``nst train-style`` option, so the command line's options, their help and
defaults, and every check and message come from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..choices import NORMALIZATIONS, PRECISIONS, vgg_layer_names
from ..errors import NSTError
from ..table import (
    BOOLEAN,
    POSITIVE,
    POSITIVE_OR_NONE,
    WHOLE,
    ZERO_OR_POSITIVE,
    Check,
    Table,
    at_least,
    row,
)

__all__ = ["TrainConfig", "TRAIN_SETTINGS", "JOHNSON"]

#: VGG19's convolutions: the layers the losses can read (VGG16's are among them).
_VGG_LAYERS = frozenset(vgg_layer_names(19))
LAYERS = Check(
    lambda v: isinstance(v, tuple) and len(v) > 0 and all(n in _VGG_LAYERS for n in v),
    "one or more of VGG's convolution layers, such as block2_conv2,block3_conv1",
)
WIDTHS = Check(
    lambda v: (
        isinstance(v, tuple)
        and len(v) == 3
        and all(isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in v)
    ),
    "three whole widths >= 1, such as 16,32,64",
)


@dataclass(frozen=True)
class TrainConfig(Table):
    """The settings of a training run, one row of the table each; change them with
    :meth:`replace` (validated).

    The defaults are sized for two CPU cores: 128 px crops, batch 4, a network half as wide as
    Johnson et al.'s, Adam at 2e-3 (their 1e-3 is slower to show the style in a few hundred
    steps). :data:`JOHNSON` holds the published settings (for a GPU). The weights were tuned on
    short runs (``docs/feedforward.md``).

    .. note:: The layers are VGG19's (the course's network), not Johnson et al.'s VGG16:
       ``block2_conv2`` for content (their relu2_2) and Gatys et al.'s style layers without
       ``block5_conv1`` (at 128 px its maps are 8x8, and it would cost a third of each step).
    """

    steps: int = row(
        1200,
        "Training steps: batches the network learns from.",
        check=at_least(1),
        option="--steps",
    )
    batch_size: int = row(4, "Crops per step.", check=at_least(1), option="--batch-size")
    size: int = row(
        128, "Side of the square training crops, px.", check=at_least(32), option="--size"
    )
    style_size: int = row(
        256,
        "The painting's longest side for its Gram matrices, px.",
        check=at_least(32),
        option="--style-size",
    )
    learning_rate: float = row(
        2e-3, "Adam's learning rate for the network's weights.", check=POSITIVE, option="--lr"
    )
    content_weight: float = row(
        1.0,
        "How strongly the outputs must keep the photographs' shapes.",
        check=ZERO_OR_POSITIVE,
        option="--content-weight",
    )
    style_weight: float = row(
        5e-5,
        "How strongly the outputs must match the painting's Gram matrices.",
        check=ZERO_OR_POSITIVE,
        option="--style-weight",
    )
    tv_weight: float = row(
        30.0,
        "Weight of the total-variation (smoothness) loss.",
        check=ZERO_OR_POSITIVE,
        option="--tv-weight",
    )
    content_layers: tuple[str, ...] = row(
        ("block2_conv2",), "Where the content is compared.", check=LAYERS, option="--content-layers"
    )
    style_layers: tuple[str, ...] = row(
        ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1"),
        "Where the painting's Gram matrices are compared.",
        check=LAYERS,
        option="--style-layers",
    )
    normalization: str = row(
        "seed", "How losses are scaled (see nst_helpers.losses).", choices=NORMALIZATIONS
    )
    filters: tuple[int, ...] = row(
        (16, 32, 64),
        "The network's widths (Johnson et al.: 32,64,128).",
        check=WIDTHS,
        option="--filters",
    )
    residual_blocks: int = row(5, "Residual blocks.", check=WHOLE, option="--blocks")
    skip: bool = row(
        True,
        "The output is the photo plus the network's correction; --no-skip: "
        "the network's picture alone.",
        check=BOOLEAN,
        option="--no-skip",
    )
    backbone: str = row(
        "auto",
        "The VGG: auto, vgg19, vgg16-hed, random[:SEED] or a weights file.",
        option="--backbone",
    )
    precision: str = row(
        "auto",
        "The VGG's arithmetic: auto is bfloat16 where the hardware has it.",
        choices=PRECISIONS,
        option="--precision",
    )
    seed: int = row(
        0, "Seeds the network's first weights and the crops.", check=WHOLE, option="--seed"
    )
    checkpoint_every: int = row(
        100, "Steps between checkpoints.", check=at_least(1), option="--checkpoint-every"
    )
    max_minutes: float | None = row(
        None,
        "Stop after this many minutes from the start, set-up included (None: no limit).",
        check=POSITIVE_OR_NONE,
        option="--minutes",
    )

    def check_together(self) -> None:
        """At least one content layer and one style layer."""
        if not self.content_layers or not self.style_layers:
            raise NSTError("give at least one content layer and one style layer.")

    def layer_weights(self) -> dict:
        """``{style layer: weight}``: equal weights ``1/L``."""
        return {l: 1.0 / len(self.style_layers) for l in self.style_layers}

    def architecture(self) -> dict:
        """The settings a checkpoint cannot change: the network's shape and the data's."""
        return {
            k: getattr(self, k)
            for k in ("filters", "residual_blocks", "skip", "size", "batch_size")
        }


#: The training settings table: ``{name: Setting}``.
TRAIN_SETTINGS = TrainConfig.settings()

#: Johnson et al.'s published settings (section 4.1): the 80 000 images of COCO at 256 px, batch 4,
#: 40 000 iterations (two epochs), Adam at 1e-3, their network width. Their TV weight, between
#: 1e-6 and 1e-4 for their losses, is chosen per painting; weights here are for this library's.
#: On a GPU: ``train(painting, photos="coco/train2014", **JOHNSON)``. Not run for this course.
#: ``skip=False`` is their layout (with a linear output where theirs is a scaled tanh).
JOHNSON = dict(
    size=256,
    batch_size=4,
    steps=40000,
    learning_rate=1e-3,
    filters=(32, 64, 128),
    residual_blocks=5,
    skip=False,
    style_size=512,
    checkpoint_every=2000,
)
