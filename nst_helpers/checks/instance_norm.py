"""Notebook 09, first exercise: ``instance_norm(x, epsilon)``, Ulyanov et al.'s instance
normalisation, ``(x - mean) / sqrt(variance + epsilon)`` per image and per channel.

Checked against :func:`nst_helpers.feedforward.instance_norm` on three batches, one with a constant
channel where only epsilon avoids 0 / 0; the hints name normalising over the wrong axes (batch,
layer normalisation …), epsilon outside the square root or fixed, no square root, no mean, the
unbiased variance, and means kept without their reduced axes (``keepdims``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .answers import call_shaped, check_gradient, tensorflow
from .common import fail, first_mistake, read_cases, succeed

__all__ = ["SEED", "HINTS", "generate", "check_instance_norm"]

#: The seed of :func:`generate`'s random numbers, which the reference file was made with.
SEED = (2025, 9, 0)

HINTS = {
    "batch": "you normalised over the batch too (axes 0, 1, 2): that is batch normalisation, which "
    "mixes the images of a batch. Each image keeps its own statistics: "
    "tf.nn.moments(x, axes=[1, 2], keepdims=True).",
    "layer": "you normalised over the channels too (axes 1, 2, 3): that is layer normalisation. "
    "Instance normalisation keeps one mean and one variance per image and per channel, "
    "over the height and the width only: axes=[1, 2].",
    "channels": "you normalised across the channels at each position (axis 3). Normalise each "
    "channel over its positions, the height and the width: axes=[1, 2].",
    "everything": "you normalised over the whole batch at once (all axes). Each image and each "
    "channel has its own mean and variance, over the height and the width: "
    "axes=[1, 2].",
    "height": "you normalised over the height only (axis 1); use the height and the width: "
    "axes=[1, 2].",
    "width": "you normalised over the width only (axis 2); use the height and the width: "
    "axes=[1, 2].",
    "batch_and_channels": "you normalised over the batch and the channels (axes 0 and 3). Use the "
    "height and the width, axes=[1, 2], for each image and channel.",
    "eps_outside": "add epsilon to the variance, inside the square root: (x - mean) / "
    "sqrt(variance + epsilon), not (x - mean) / (sqrt(variance) + epsilon); the "
    "two differ where the variance is small.",
    "fixed_epsilon": "use the epsilon the function is given (its argument), not a fixed number.",
    "no_sqrt": "divide by the standard deviation, sqrt(variance + epsilon), not by the variance.",
    "no_mean": "subtract each channel's mean before dividing by its standard deviation.",
    "unbiased": "use the plain variance, the mean of the squared differences (divided by H * W, "
    "as tf.nn.moments does), not the unbiased one divided by H * W - 1.",
}

_NO_EPSILON = (
    "a channel with constant values (variance 0) gave 0 / 0 = NaN: add epsilon to the "
    "variance inside the square root, (x - mean) / sqrt(variance + epsilon) "
    "(tf.math.rsqrt(variance + epsilon))."
)


def _keepdims_hint(got_shape: tuple[int, ...] | None) -> str:
    """What a wrong shape means here: means and variances without their reduced axes."""
    if got_shape is None:
        return (
            " Keep the reduced axes (keepdims=True), so that a mean of shape (N, 1, 1, C) "
            "broadcasts against x of shape (N, H, W, C)."
        )
    if len(got_shape) == 4:
        return (
            " Keep the reduced axes (keepdims=True) so that the mean and the variance "
            "broadcast against x."
        )
    return ""


def _norm(x: np.ndarray, axes: tuple[int, ...], eps: float, ddof: int = 0) -> np.ndarray:
    """``x`` normalised over ``axes`` in float64 (a mistake's answer when ``axes`` is not (1, 2))."""
    x = np.asarray(x, np.float64)
    n = np.prod([x.shape[a] for a in axes])
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).sum(axis=axes, keepdims=True) / (n - ddof)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x - mean) / np.sqrt(var + eps)


def generate(rng: np.random.Generator) -> dict:
    """Three batches, :func:`nst_helpers.feedforward.instance_norm`'s answers and the mistakes'."""
    from ..feedforward import instance_norm  # lazy: TensorFlow, only when regenerating

    # First a constant channel (its variance is 0) and a nearly constant one, where epsilon
    # matters; then images and channels of different means and spreads.
    x = rng.normal(size=(2, 4, 4, 3))
    x[0, :, :, 0] = 0.5
    x[:, :, :, 1] = 1.0 + 0.01 * rng.normal(size=(2, 4, 4))
    cases = [(x, 1e-3)]
    for shape, eps in (((2, 5, 6, 3), 1e-5), ((3, 4, 7, 2), 1e-3)):
        n, c = shape[0], shape[-1]
        scale = rng.uniform(0.5, 4.0, size=(n, 1, 1, c))
        offset = rng.uniform(-3.0, 3.0, size=(n, 1, 1, c))
        cases.append((rng.normal(size=shape) * scale + offset, eps))
    out = {}
    for i, (x, eps) in enumerate(cases):
        x = x.astype(np.float32)
        expected = instance_norm(tensorflow().constant(x), eps).numpy()
        xd = x.astype(np.float64)
        mean = xd.mean(axis=(1, 2), keepdims=True)
        var = xd.var(axis=(1, 2), keepdims=True)
        mistakes = {
            "batch": _norm(x, (0, 1, 2), eps),
            "layer": _norm(x, (1, 2, 3), eps),
            "channels": _norm(x, (3,), eps),
            "everything": _norm(x, (0, 1, 2, 3), eps),
            "height": _norm(x, (1,), eps),
            "width": _norm(x, (2,), eps),
            "batch_and_channels": _norm(x, (0, 3), eps),
            "eps_outside": (xd - mean) / (np.sqrt(var) + eps),
            "no_sqrt": (xd - mean) / (var + eps),
            "no_mean": xd / np.sqrt(var + eps),
            "unbiased": _norm(x, (1, 2), eps, ddof=1),
        }
        if eps != 1e-5:
            mistakes["fixed_epsilon"] = _norm(x, (1, 2), 1e-5)
        out[i] = (
            {"x": x, "epsilon": np.float64(eps)},
            expected,
            {k: v.astype(np.float32) for k, v in mistakes.items() if np.all(np.isfinite(v))},
        )
    return out


def check_instance_norm(instance_norm: Callable) -> None:
    """Check ``instance_norm(x, epsilon)``: ``(x - mean) / sqrt(variance + epsilon)`` with one mean
    and one (biased) variance per image and per channel, over the height and the width.

    The inputs are float32 tensors ``(N, H, W, C)``: images and channels with different means and
    spreads, and a constant channel, where only epsilon avoids 0 / 0. The answer has ``x``'s shape,
    and a gradient must flow through it (the network trains through it).

    Args:
        instance_norm: the function written in notebook 09.
    """
    tf, fn = tensorflow(), instance_norm
    cases = read_cases("instance_norm")
    for case in cases:
        x, eps = case["inputs"]["x"], float(case["inputs"]["epsilon"])
        text = f"x of shape {x.shape}, epsilon={eps:g}"
        got = call_shaped(fn, (tf.constant(x), eps), text, x.shape, _keepdims_hint)
        want = case["expected"].astype(np.float64)
        if not np.all(np.isfinite(got)):
            constant = np.ptp(x, axis=(1, 2)).min() == 0
            fail(
                fn,
                text,
                _NO_EPSILON
                if constant
                else "it returned NaN or infinite values: is there a division by zero?",
            )
        if np.allclose(got, want, rtol=1e-4, atol=1e-4):
            continue
        hint = first_mistake(got, case["mistakes"], HINTS, 1e-4, 1e-4)
        if hint:
            fail(fn, text, hint)
        worst = np.unravel_index(np.argmax(np.abs(got - want)), want.shape)
        fail(
            fn,
            text,
            f"at index {tuple(int(i) for i in worst)} it gives {got[worst]:.6g}, the "
            f"answer is {want[worst]:.6g}. Each image and channel: subtract the mean "
            "over the height and the width, divide by sqrt(variance + epsilon).",
        )
    x = cases[-1]["inputs"]["x"]
    check_gradient(fn, f"x of shape {x.shape}, gradient", [tf.constant(x), 1e-5])
    succeed(fn, len(cases), ": per image and channel, with a constant channel")
