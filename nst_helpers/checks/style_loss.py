"""Notebook 04, second exercise: ``style_loss(features, target_gram)`` of one layer.

Like the content loss, both normalisations are stored in one encoding (:func:`.common.normalised`):
the seed's mean of squared Gram differences and the paper's ``sum / (4 N**2)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .answers import check_normalised_loss
from .common import made_up_features, normalised

__all__ = ["HINTS", "generate", "check_style_loss"]

HINTS = {
    "sum": "you summed the squared differences; the seed's style loss is their mean (tf.reduce_mean).",
    "paper": "that is the paper's normalisation, sum((G - A)**2) / (4 N**2); this exercise uses the "
    "seed's, the mean of the squared differences of the Gram matrices.",
    "seed": "that is sum((G - A)**2) / N**2, the seed's mean: the paper divides by 4 N**2 (Gatys et al., "
    "eq. 4, with Gram matrices already divided by M = H * W): "
    "tf.reduce_sum(tf.square(G - A)) / (4 * N**2), N the number of channels.",
    "unnormalised_gram": "the target Gram matrix is divided by the number of positions H * W; divide "
    "yours too (use your gram_matrix, which does).",
    "no_square": "square the differences of the Gram matrices (tf.square) before reducing.",
    "abs": "square the differences (tf.square) instead of taking their absolute value.",
    "sqrt": "do not take a square root: the loss is a mean of squared differences.",
    "no_division": "divide the sum by 4 N**2, N the number of channels (Gatys et al., eq. 4).",
    "n_not_squared": "divide by 4 N**2 (N squared, N the number of channels), not by 4 N.",
    "double_m": "the Gram matrices are already divided by M = H * W, so the paper's 1 / (4 N**2 M**2) "
    "becomes 1 / (4 N**2): do not divide by M**2 again.",
    "features_m": "N is the number of channels (the Gram matrix is N x N), not the number of positions.",
}


def generate(rng: np.random.Generator) -> dict:
    """Two layers and style targets; the seed's and the paper's answers, and their mistakes."""
    from .. import losses  # lazy: TensorFlow, only when regenerating

    out = {}
    for i, (shape, style_shape) in enumerate(
        [((1, 4, 5, 6), (1, 6, 6, 6)), ((1, 3, 7, 10), (1, 5, 4, 10))]
    ):
        f = made_up_features(rng, shape)
        s = made_up_features(rng, style_shape, 1.3)
        target = losses.gram_matrix(s).numpy()
        h, w, c = shape[1:]
        m = h * w
        flat = f.reshape(m, c).astype(np.float64)
        g = flat.T @ flat / m
        d = g - target
        raw = flat.T @ flat - target
        expected, mistakes = normalised(
            {
                "seed": (
                    float(losses.style_layer_loss(f, target, "seed")),
                    {
                        "sum": np.sum(d**2),
                        "unnormalised_gram": np.mean(raw**2),
                        "no_square": np.mean(d),
                        "abs": np.mean(np.abs(d)),
                        "sqrt": np.sqrt(np.mean(d**2)),
                    },
                ),
                "paper": (
                    float(losses.style_layer_loss(f, target, "paper")),
                    {
                        "no_division": np.sum(d**2),
                        "n_not_squared": np.sum(d**2) / (4 * c),
                        "double_m": np.sum(d**2) / (4 * c**2 * m**2),
                        "features_m": np.sum(d**2) / (4 * m**2),
                        "unnormalised_gram": np.sum(raw**2) / (4 * c**2),
                        "no_square": np.sum(d) / (4 * c**2),
                    },
                ),
            }
        )
        out[i] = ({"features": f, "target_gram": target}, expected, mistakes)
    return out


def check_style_loss(style_loss: Callable, normalization: str = "seed") -> None:
    """Check ``style_loss(features, target_gram)``: the style loss of one layer.

    ``features`` are the generated image's ``(1, H, W, C)`` features, ``target_gram`` the style image's
    ``(C, C)`` Gram matrix divided by its number of positions. ``normalization="seed"`` (default)
    expects ``mean((G - A)**2)`` with ``G`` the Gram matrix of ``features`` divided by ``H * W``;
    ``"paper"`` expects ``sum((G - A)**2) / (4 C**2)``, which is Gatys et al.'s
    ``E_l = 1 / (4 N² M²) sum((G_raw - A_raw)**2)``. Run :func:`check_gram_matrix` first: this check
    goes through your Gram matrix.

    Args:
        style_loss: the function written in notebook 04.
        normalization: one of :data:`nst_helpers.choices.NORMALIZATIONS`, ``"seed"`` or ``"paper"``.
    """
    check_normalised_loss(
        style_loss,
        "style_loss",
        normalization,
        ("features", "target_gram"),
        HINTS,
        unexplained=" Is your gram_matrix right (check_gram_matrix)?",
    )
