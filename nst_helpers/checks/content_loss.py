"""Notebook 03: ``content_loss(generated, target)``, under either normalisation.

The seed's mean squared error and the paper's ``1/2 * sum`` are both stored (one encoding,
:func:`.common.normalised`), each the other's mistake.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .answers import check_normalised_loss
from .common import made_up_features, normalised

__all__ = ["HINTS", "generate", "check_content_loss"]

HINTS = {
    "sum": "you summed the squared differences; the seed's content loss is their mean "
    "(tf.reduce_mean), which does not grow with the size of the layer.",
    "paper": "that is the paper's normalisation, 1/2 * sum((F - P)**2) (Gatys et al., eq. 1); this "
    "exercise uses the seed's mean squared error, tf.reduce_mean(tf.square(F - P)).",
    "seed": "that is the seed's mean squared error; the paper's content loss (Gatys et al., eq. 1) is "
    "1/2 * sum((F - P)**2): tf.reduce_sum, times 0.5.",
    "half_mean": "there is no 1/2 in the seed's loss: just the mean of the squared differences.",
    "mean_not_sum": "the paper sums the squared differences (tf.reduce_sum); it does not average them.",
    "no_half": "you forgot the 1/2 of the paper's content loss: 0.5 * tf.reduce_sum(tf.square(F - P)).",
    "abs": "square the differences (tf.square) instead of taking their absolute value.",
    "no_square": "square the differences (tf.square) before averaging; plain differences cancel out.",
    "sqrt": "do not take the square root: the loss is the mean squared error, not its root.",
    "norm": "do not take a norm (a square root of a sum): the loss is the mean of the squared "
    "differences.",
}


def generate(rng: np.random.Generator) -> dict:
    """Three pairs of feature maps; every normalisation's answer and mistakes."""
    from .. import losses  # lazy: TensorFlow, only when regenerating

    out = {}
    for i, shape in enumerate([(1, 4, 5, 8), (1, 3, 3, 16), (1, 7, 2, 4)]):
        gen = made_up_features(rng, shape, 2)
        tgt = made_up_features(rng, shape, 2)
        d = gen.astype(np.float64) - tgt
        either = {
            "abs": np.mean(np.abs(d)),
            "no_square": np.mean(d),
            "sqrt": np.sqrt(np.mean(d**2)),
            "norm": np.sqrt(np.sum(d**2)),
        }
        expected, mistakes = normalised(
            {
                "seed": (
                    float(losses.content_loss(gen, tgt, "seed")),
                    {"sum": np.sum(d**2), "half_mean": 0.5 * np.mean(d**2), **either},
                ),
                "paper": (
                    float(losses.content_loss(gen, tgt, "paper")),
                    {"no_half": np.sum(d**2), "mean_not_sum": 0.5 * np.mean(d**2), **either},
                ),
            }
        )
        out[i] = ({"generated": gen, "target": tgt}, expected, mistakes)
    return out


def check_content_loss(content_loss: Callable, normalization: str = "seed") -> None:
    """Check ``content_loss(generated, target)`` on two feature maps of the same shape.

    ``normalization="seed"`` (the default) expects the mean squared error ``mean((F - P)**2)``;
    ``"paper"`` expects ``1/2 * sum((F - P)**2)`` (Gatys et al. 2016, eq. 1). The inputs are float32
    TensorFlow tensors ``(1, H, W, C)``; the answer is a scalar through which a gradient flows.

    Args:
        content_loss: the function written in notebook 03.
        normalization: one of :data:`nst_helpers.choices.NORMALIZATIONS`, ``"seed"`` or ``"paper"``.
    """
    check_normalised_loss(
        content_loss, "content_loss", normalization, ("generated", "target"), HINTS
    )
