"""Notebook 09, second exercise: ``residual_block(x, conv_1, norm_1, conv_2, norm_2)``, Johnson et
al.'s block ``x + norm_2(conv_2(relu(norm_1(conv_1(x)))))``.

The check passes its own layers: mirror-padded 3x3 convolutions and instance normalisations
(:func:`nst_helpers.feedforward.instance_norm`) with stored weights, on two inputs. The hints name a
missing skip connection, ReLUs and normalisations in the wrong places, layers used twice or left
out, and x and the branch joined (``tf.concat``, ``tf.stack``) instead of added.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .answers import call_shaped, check_gradient, tensorflow
from .common import fail, first_mistake, read_cases, succeed

__all__ = ["SEED", "HINTS", "generate", "check_residual_block"]

#: The seed of :func:`generate`'s random numbers, which the reference file was made with.
SEED = (2025, 9, 1)

HINTS = {
    "no_skip": "there is no skip connection: the block returns only its two convolutions' result. "
    "Add the input back, return x + norm_2(conv_2(...)), so the block learns a "
    "correction to x.",
    "relu_after_sum": "no ReLU after the sum: Johnson et al.'s block returns x + norm_2(...) as "
    "it is, so that the block can also lower values.",
    "relu_before_sum": "no ReLU on the second branch either: x + norm_2(conv_2(...)), with the "
    "only ReLU between norm_1 and conv_2.",
    "no_inner_relu": "put a ReLU between the two convolutions, after norm_1: "
    "conv_2(tf.nn.relu(norm_1(conv_1(x)))); without it the two convolutions are "
    "one linear map.",
    "norm_after_sum": "normalise the branch before adding the skip: x + norm_2(conv_2(...)), not "
    "norm_2(x + conv_2(...)), which would normalise the input away.",
    "relu_before_norm": "normalise first, then the ReLU: tf.nn.relu(norm_1(conv_1(x))).",
    "first_layers_twice": "use each layer once: conv_1 and norm_1 first, then conv_2 and norm_2 "
    "(they have different weights).",
    "one_convolution": "the branch has two convolutions: conv_1, norm_1, ReLU, conv_2, norm_2.",
}


def _joined_hint(x_shape: tuple[int, ...]) -> Callable[[tuple[int, ...] | None], str]:
    """What a wrong shape means here: x and the branch joined (concatenated, stacked), not added."""

    def hint(got_shape: tuple[int, ...] | None) -> str:
        if got_shape is None:
            return (
                " The skip connection adds x and the branch, which have the same shape: "
                "x + norm_2(conv_2(...))."
            )
        got, x = tuple(got_shape), tuple(x_shape)
        doubled = (
            len(got) == len(x)
            and sum(g != s for g, s in zip(got, x)) == 1
            and all(g in (s, 2 * s) for g, s in zip(got, x))
        )
        stacked = len(got) == len(x) + 1 and any(
            got[:a] + got[a + 1 :] == x and got[a] == 2 for a in range(len(got))
        )
        if not (doubled or stacked):
            return ""
        how = (
            "concatenated x and the branch (tf.concat)"
            if doubled
            else "stacked x and the branch (tf.stack)"
        )
        return (
            f" You {how}: the skip connection adds them, element by element, "
            "x + norm_2(conv_2(...)), which keeps x's shape."
        )

    return hint


def _layers(inputs: dict[str, np.ndarray]) -> tuple[Callable, Callable, Callable, Callable]:
    """The four layers of a case, ``(conv_1, norm_1, conv_2, norm_2)``: mirror-padded 3x3
    convolutions and instance normalisations with the stored weights (named, so that messages read
    well)."""
    from ..feedforward import instance_norm  # lazy: TensorFlow, when a check runs

    tf = tensorflow()

    def make_conv(k: np.ndarray, b: np.ndarray, name: str) -> Callable:
        kernel, bias = tf.constant(k), tf.constant(b)

        def conv(t: Any) -> Any:
            t = tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
            return tf.nn.conv2d(t, kernel, 1, "VALID") + bias

        conv.__name__ = name
        return conv

    def make_norm(g: np.ndarray, b: np.ndarray, name: str) -> Callable:
        gamma, beta = tf.constant(g), tf.constant(b)

        def norm(t: Any) -> Any:
            return instance_norm(t, 1e-5) * gamma + beta

        norm.__name__ = name
        return norm

    return (
        make_conv(inputs["kernel_1"], inputs["bias_1"], "conv_1"),
        make_norm(inputs["gamma_1"], inputs["beta_1"], "norm_1"),
        make_conv(inputs["kernel_2"], inputs["bias_2"], "conv_2"),
        make_norm(inputs["gamma_2"], inputs["beta_2"], "norm_2"),
    )


def generate(rng: np.random.Generator) -> dict:
    """Two inputs with their layers' weights, :func:`nst_helpers.feedforward.residual_block`'s
    answers and the classic mistakes'."""
    from ..feedforward import residual_block  # lazy: TensorFlow, only when regenerating

    tf = tensorflow()
    relu = tf.nn.relu
    out = {}
    for i, shape in enumerate([(2, 6, 5, 4), (1, 7, 7, 3)]):
        c = shape[-1]
        inputs: dict[str, Any] = {"x": rng.normal(size=shape).astype(np.float32)}
        for j in (1, 2):
            inputs[f"kernel_{j}"] = rng.normal(0, 0.4, size=(3, 3, c, c)).astype(np.float32)
            inputs[f"bias_{j}"] = rng.normal(0, 0.1, size=c).astype(np.float32)
            inputs[f"gamma_{j}"] = rng.uniform(0.5, 1.5, size=c).astype(np.float32)
            inputs[f"beta_{j}"] = rng.normal(0, 0.3, size=c).astype(np.float32)
        c1, n1, c2, n2 = _layers(inputs)
        x = tf.constant(inputs["x"])
        branch = n2(c2(relu(n1(c1(x)))))
        mistakes = {
            "no_skip": branch,
            "relu_after_sum": relu(x + branch),
            "relu_before_sum": x + relu(branch),
            "no_inner_relu": x + n2(c2(n1(c1(x)))),
            "norm_after_sum": n2(x + c2(relu(n1(c1(x))))),
            "relu_before_norm": x + n2(c2(n1(relu(c1(x))))),
            "first_layers_twice": x + n1(c1(relu(n1(c1(x))))),
            "one_convolution": x + n1(c1(x)),
        }
        expected = residual_block(x, c1, n1, c2, n2).numpy()
        out[i] = (inputs, expected, {k: np.asarray(v) for k, v in mistakes.items()})
    return out


def check_residual_block(residual_block: Callable) -> None:
    """Check ``residual_block(x, conv_1, norm_1, conv_2, norm_2)``: Johnson et al.'s block,
    ``x + norm_2(conv_2(relu(norm_1(conv_1(x)))))``.

    The check passes its own layers (3x3 convolutions and instance normalisations with fixed
    weights) and compares the block's output with the stored one; a gradient must flow through it.

    Args:
        residual_block: the function written in notebook 09.
    """
    tf, fn = tensorflow(), residual_block
    cases = read_cases("residual_block")
    for case in cases:
        x = case["inputs"]["x"]
        text = f"x of shape {x.shape}"
        got = call_shaped(
            fn, (tf.constant(x),) + _layers(case["inputs"]), text, x.shape, _joined_hint(x.shape)
        )
        want = case["expected"].astype(np.float64)
        if np.all(np.isfinite(got)) and np.allclose(got, want, rtol=1e-4, atol=1e-4):
            continue
        hint = first_mistake(got, case["mistakes"], HINTS, 1e-4, 1e-4)
        if hint:
            fail(fn, text, hint)
        if np.allclose(got, x, rtol=1e-5, atol=1e-5):
            fail(fn, text, "it returns x unchanged: add the branch, x + norm_2(conv_2(...)).")
        fail(
            fn,
            text,
            "the output differs from x + norm_2(conv_2(tf.nn.relu(norm_1(conv_1(x))))): "
            "use each given layer once, in that order, and add x at the end.",
        )
    inputs = cases[0]["inputs"]
    check_gradient(
        fn,
        f"x of shape {inputs['x'].shape}, gradient",
        [tf.constant(inputs["x"])] + list(_layers(inputs)),
    )
    succeed(fn, len(cases), ", with the check's own layers")
