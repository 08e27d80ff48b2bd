"""A network that stylises a photograph in one forward pass (Johnson, Alahi & Fei-Fei 2016).

Gatys et al. (2016) optimise the pixels of every new photograph: a minute of a laptop's CPU per
picture (:func:`nst_helpers.optimize.stylize`). Johnson et al. (2016) train a small image-to-image
network once per painting, over many photographs, to minimise the same loss: the content loss and
the Gram-matrix style loss on a frozen VGG, plus total variation, the *perceptual loss*
(:class:`nst_helpers.losses.PerceptualLoss`, the library's one loss). Afterwards one forward pass
stylises any photo, at any size, in milliseconds. Ulyanov, Vedaldi & Lempitsky (2016) found that
normalising each image on its own (*instance normalisation*) instead of the batch makes such
networks much better.

The package, in the order of notebook 09:

:mod:`~nst_helpers.feedforward.network`
    :func:`transformation_network`: three convolutions (the last two with stride 2), residual
    blocks, two upsampling convolutions and a last 9x9 convolution, each inner one followed by
    :class:`InstanceNormalization` and a ReLU; what it computes is added to the photo.
:mod:`~nst_helpers.feedforward.data`
    :class:`PhotoCrops`, the training set, offline; :data:`HELD_OUT` photographs test the network.
:mod:`~nst_helpers.feedforward.settings`
    :class:`TrainConfig`, the training's settings table (like :class:`~nst_helpers.config.StyleConfig`).
:mod:`~nst_helpers.feedforward.training`, :mod:`~nst_helpers.feedforward.checkpoints`
    :func:`train`, on the library's one loop (:class:`nst_helpers.loop.Loop`), with checkpoints,
    resuming, a time limit and Ctrl-C (or SIGTERM, in ``nst train-style``) that keeps the last
    checkpoint.
:mod:`~nst_helpers.feedforward.use`
    :func:`stylize_fast`, :func:`save_network`, :func:`load_network`: using a trained network and
    keeping it as a normal ``.keras`` file, read back in Keras' safe mode.

References:
    Johnson, Alahi & Fei-Fei (2016), "Perceptual Losses for Real-Time Style Transfer and
    Super-Resolution", ECCV, arXiv:1603.08155 (and its supplementary material).
    Ulyanov, Vedaldi & Lempitsky (2016), "Instance Normalization: The Missing Ingredient for Fast
    Stylization", arXiv:1607.08022.
    Odena, Dumoulin & Olah (2016), "Deconvolution and Checkerboard Artifacts", Distill.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives. The package loads a module when one of its names is first used,
#: so that ``nst train-style`` can read the settings table (:mod:`.settings`) and check every
#: option before TensorFlow is imported (TensorFlow takes seconds to import).
_WHERE = {
    "LOSS_NAMES": "..loop",
    "StopRun": "..loop",
    **dict.fromkeys(
        ["DAMAGED", "EARLIER", "RUN_FILE", "STATE_FILE", "latest_step"], ".checkpoints"
    ),
    **dict.fromkeys(
        [
            "COURSE_PHOTOS",
            "HELD_OUT",
            "PHOTO_SIDE",
            "TRAINING_PHOTOS",
            "PhotoCrops",
            "describe_style",
            "painting",
            "photo",
            "photo_credits",
        ],
        ".data",
    ),
    **dict.fromkeys(
        [
            "PACKAGE",
            "CropToInput",
            "InstanceNormalization",
            "PadToMultiple",
            "ReflectionPadding2D",
            "ResidualBlock",
            "instance_norm",
            "network_info",
            "residual_block",
            "transformation_network",
        ],
        ".network",
    ),
    **dict.fromkeys(["JOHNSON", "TRAIN_SETTINGS", "TrainConfig"], ".settings"),
    **dict.fromkeys(
        ["TrainProgress", "TrainResult", "held_out_loss", "perceptual_loss", "train"], ".training"
    ),
    **dict.fromkeys(
        [
            "describe_network",
            "forward_milliseconds",
            "load_network",
            "milliseconds_per_image",
            "save_network",
            "stylize_fast",
        ],
        ".use",
    ),
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
