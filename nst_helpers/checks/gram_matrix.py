"""Notebook 04, first exercise: ``gram_matrix(features)``, ``F^T F / (H * W)``.

The hints name each wrong divisor (none, ``H * W * C``, ``C``, ``M**2``, ``H`` or ``W``), a reshape
that mixes positions and channels, and a centred (covariance) matrix.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .answers import as_array, as_tensor, call_student, check_gradient
from .common import fail, first_mistake, is_close, made_up_features, magnitude, read_cases, succeed

__all__ = ["HINTS", "generate", "check_gram_matrix"]

HINTS = {
    "unnormalised": "divide by the number of positions M = H * W, so that Gram matrices of images of "
    "different sizes can be compared (the seed's normalisation).",
    "by_hwc": "divide by the number of positions H * W only, not by the number of channels too.",
    "by_c": "divide by the number of positions H * W, not by the number of channels C.",
    "by_m2": "divide by the number of positions M = H * W once, not by M**2: the paper's M**2 belongs "
    "to its style loss, which squares the difference of two Gram matrices each divided by M.",
    "by_h": "divide by the number of positions M = H * W, not by the height H alone "
    "(features.shape[1] * features.shape[2], or tf.shape(F)[0] of the flattened features).",
    "by_w": "divide by the number of positions M = H * W, not by the width W alone "
    "(features.shape[1] * features.shape[2], or tf.shape(F)[0] of the flattened features).",
    "wrong_reshape": "wrong axis: flatten the features to (H * W, C), channels last "
    "(tf.reshape(x, [-1, C])), then take F^T F. Reshaping straight to (C, H * W) "
    "mixes positions and channels; transpose instead if you want (C, H * W).",
    "wrong_reshape_unnormalised": "wrong axis: flatten the features to (H * W, C), channels last "
    "(tf.reshape(x, [-1, C])), then take F^T F and divide by H * W.",
    "centered": "do not subtract the mean: the Gram matrix is a plain sum of products, not a "
    "covariance.",
}


def generate(rng: np.random.Generator) -> dict:
    """Three feature maps, :func:`nst_helpers.losses.gram_matrix`'s answers, wrong divisors'."""
    from .. import losses  # lazy: TensorFlow, only when regenerating

    out = {}
    for i, shape in enumerate([(1, 4, 5, 3), (1, 6, 3, 8), (1, 2, 9, 5)]):
        f = made_up_features(rng, shape)
        h, w, c = shape[1:]
        m = h * w
        flat = f.reshape(m, c).astype(np.float64)
        wrong = f.reshape(c, m).astype(np.float64)  # reshaped straight to (C, M): mixes the axes
        centred = flat - flat.mean(axis=0)
        expected = losses.gram_matrix(f).numpy()
        mistakes = {
            "unnormalised": flat.T @ flat,
            "by_hwc": flat.T @ flat / (m * c),
            "by_c": flat.T @ flat / c,
            "by_m2": flat.T @ flat / m**2,
            "by_h": flat.T @ flat / h,
            "by_w": flat.T @ flat / w,
            "wrong_reshape": wrong @ wrong.T / m,
            "wrong_reshape_unnormalised": wrong @ wrong.T,
            "centered": centred.T @ centred / m,
        }
        out[i] = ({"features": f}, expected, mistakes)
    return out


def check_gram_matrix(gram_matrix: Callable) -> None:
    """Check ``gram_matrix(features)``: ``(1, H, W, C)`` features → ``(C, C)`` Gram matrix.

    ``G = F^T F / M`` with ``F`` the features flattened to ``(M, C)``, ``M = H * W`` positions (the
    seed's normalisation). A leading batch axis of 1 in the answer, ``(1, C, C)``, is accepted; a
    gradient must flow through it.

    Args:
        gram_matrix: the function written in notebook 04.
    """
    cases = read_cases("gram_matrix")
    for case in cases:
        f = case["inputs"]["features"]
        h, w, c = f.shape[1:]
        text = f"features of shape {f.shape}"
        got = as_array(
            gram_matrix, call_student(gram_matrix, as_tensor(f)), text, "a (C, C) matrix"
        )
        if got.ndim == 3 and got.shape[0] == 1:
            got = got[0]
        want = case["expected"]
        rtol, atol = 1e-4, 1e-6 * magnitude(want)
        if is_close(got, want, rtol, atol):
            continue
        m = h * w
        if got.shape == (m, m):
            fail(
                gram_matrix,
                text,
                f"transposed Gram: it returned {m}x{m} (positions x positions). "
                f"With F of shape (H * W, C) = ({m}, {c}), the Gram matrix is "
                f"F^T F, of shape (C, C) = ({c}, {c}); F F^T compares positions, "
                "not channels (tf.matmul(F, F, transpose_a=True)).",
            )
        if got.shape != want.shape:
            fail(
                gram_matrix,
                text,
                f"the Gram matrix has shape (C, C) = {want.shape}, not {got.shape}.",
            )
        hint = first_mistake(got, case["mistakes"], HINTS, rtol, rel_atol=1e-6)
        if hint:
            fail(gram_matrix, text, hint)
        if not is_close(got, got.T, 1e-4, 1e-6 * magnitude(got)):
            fail(
                gram_matrix,
                text,
                "a Gram matrix is symmetric (G[i, j] = G[j, i]) and yours is not: "
                "multiply the flattened features by themselves, F^T F.",
            )
        fail(
            gram_matrix,
            text,
            "the shape is right but the values are not: G = F^T F / (H * W) with F "
            "the features reshaped to (H * W, C).",
        )
    f = cases[0]["inputs"]["features"]
    check_gradient(gram_matrix, f"features of shape {f.shape}, gradient", [as_tensor(f)])
    succeed(gram_matrix, len(cases))
