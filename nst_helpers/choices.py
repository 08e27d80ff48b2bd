"""The words that each setting with a fixed vocabulary accepts, written once.

This module imports nothing, so every module can read it: the one that implements the choice
(``losses``, ``backbone``, ``color``, ``optimize``) re-exports its own vocabulary, and
:mod:`nst_helpers.config` builds the settings' types and checks from them without starting
TensorFlow. To offer a new choice, add its word here and implement it where it is re-exported.
"""

from __future__ import annotations

__all__ = [
    "BACKBONES",
    "INITS",
    "NORMALIZATIONS",
    "OPTIMIZERS",
    "POOLINGS",
    "PRECISIONS",
    "PRESERVE_COLORS",
    "VGG_BLOCKS",
    "vgg_layer_names",
]

#: How losses are scaled (:mod:`nst_helpers.losses`): the 2021 seed's means, or Gatys et al.'s sums.
NORMALIZATIONS = ("seed", "paper")
#: VGG's pooling (:mod:`nst_helpers.backbone`): as trained, or average (Gatys et al. 2016).
POOLINGS = ("max", "avg")
#: The network's arithmetic (:mod:`nst_helpers.backbone`); bfloat16 for the network only; auto:
#: bfloat16 where the hardware computes it natively, else float32.
PRECISIONS = ("float32", "bfloat16", "auto")
#: Colour preservation (:mod:`nst_helpers.color`, Gatys et al. 2017); ``None`` means off.
PRESERVE_COLORS = ("luminance", "histogram")
#: The optimisers of :func:`nst_helpers.optimize.stylize`.
OPTIMIZERS = ("adam", "lbfgs")
#: Where the optimisation starts (:meth:`nst_helpers.optimize.Problem.initial_image`).
INITS = ("content", "noise", "style", "recolored")
#: The networks :func:`nst_helpers.backbone.load_backbone` knows by name; besides them it takes
#: ``random:SEED`` and a path to a weights file.
BACKBONES = ("auto", "vgg19", "vgg16-hed", "random")
#: VGG's convolutions per block, VGG16 and VGG19 (:mod:`nst_helpers.backbone` builds them).
VGG_BLOCKS: dict[int, tuple[int, ...]] = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def vgg_layer_names(depth: int = 19) -> list[str]:
    """VGG's convolution layers in order, as Keras names them (``block1_conv1`` … ``block5_conv4``).

    Args:
        depth: 16 or 19, the VGG network.

    Returns:
        The names of its convolution layers, first to last.
    """
    return [
        f"block{b}_conv{i}" for b, n in enumerate(VGG_BLOCKS[depth], 1) for i in range(1, n + 1)
    ]
