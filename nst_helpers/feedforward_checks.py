"""The exercise checks of notebook 09: instance normalisation and the residual block.

They work as those of :mod:`nst_helpers.checks` do: each runs the student's function on small fixed
inputs stored in ``data/checks/`` (``instance_norm.npz``, ``residual_block.npz``) and compares with
the stored answers of :func:`nst_helpers.feedforward.instance_norm` and
:func:`nst_helpers.feedforward.residual_block`; a wrong answer that matches a classic mistake
(normalising over the batch or the channels, no epsilon, no skip connection …) fails with a hint
naming it. Regenerate the files (only when an exercise changes) with::

    python -m nst_helpers.feedforward_checks --regenerate
"""

import argparse
import re
import sys

import numpy as np

from .checks import (
    CheckFailed,
    _call,
    _cases,
    _check_gradient,
    _fail,
    _first_mistake,
    _save_npz,
    _success,
    data_dir,
)

#: The checks of this module, each with its reference file ``data/checks/<name>.npz``.
CHECKS = ("instance_norm", "residual_block")


def _tf():
    from ._tf import tf

    return tf()


def _answer(fn, args, text, shape, shapes_hint=None):
    """Call the student's ``fn(*args)``; return its answer as a float64 array of ``shape``, NaN
    allowed (the caller names what NaN means), or fail saying what came back instead.

    ``shapes_hint(got_shape)``, the exercise's own, says what a wrong shape (or an error about
    shapes that do not broadcast, ``got_shape`` None) means there, or returns ``""``.
    """
    shapes_hint = shapes_hint or (lambda got_shape: "")
    try:
        got = _call(fn, *args)
    except CheckFailed:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the student's code raises
        msg = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\].*", "", str(err).splitlines()[0] if str(err) else "")
        msg = msg[:200]
        hint = f"it raised {type(err).__name__}: {msg}"
        if "ncompatible shapes" in msg or "broadcast" in msg.lower():
            hint += "." + shapes_hint(None)
        _fail(fn, text, hint)
    if got is None:
        _fail(fn, text, "it returned None: did you forget the `return` statement?")
    try:
        arr = np.asarray(got.numpy() if hasattr(got, "numpy") else got, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(fn, text, f"it returned a {type(got).__name__}; return a tensor of x's shape.")
    if arr.shape != tuple(shape):
        _fail(fn, text, f"it returned shape {arr.shape}; the answer has x's shape "
                        f"{tuple(shape)}.{shapes_hint(arr.shape)}")
    return arr


# --------------------------------------------------------------------------------------------------
# Instance normalisation
# --------------------------------------------------------------------------------------------------

_IN_HINTS = {
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
def _keepdims_hint(got_shape):
    """What a wrong shape means in instance_norm: means and variances without their reduced axes."""
    if got_shape is None:
        return (" Keep the reduced axes (keepdims=True), so that a mean of shape (N, 1, 1, C) "
                "broadcasts against x of shape (N, H, W, C).")
    if len(got_shape) == 4:
        return (" Keep the reduced axes (keepdims=True) so that the mean and the variance "
                "broadcast against x.")
    return ""


_NO_EPSILON = ("a channel with constant values (variance 0) gave 0 / 0 = NaN: add epsilon to the "
               "variance inside the square root, (x - mean) / sqrt(variance + epsilon) "
               "(tf.math.rsqrt(variance + epsilon)).")


def _norm(x, axes, eps, ddof=0):
    x = np.asarray(x, np.float64)
    n = np.prod([x.shape[a] for a in axes])
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).sum(axis=axes, keepdims=True) / (n - ddof)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x - mean) / np.sqrt(var + eps)


def _gen_instance_norm(rng):
    from .feedforward import instance_norm

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
        expected = instance_norm(_tf().constant(x), eps).numpy()
        xd = x.astype(np.float64)
        mean = xd.mean(axis=(1, 2), keepdims=True)
        var = xd.var(axis=(1, 2), keepdims=True)
        mistakes = {
            "batch": _norm(x, (0, 1, 2), eps), "layer": _norm(x, (1, 2, 3), eps),
            "channels": _norm(x, (3,), eps), "everything": _norm(x, (0, 1, 2, 3), eps),
            "height": _norm(x, (1,), eps), "width": _norm(x, (2,), eps),
            "batch_and_channels": _norm(x, (0, 3), eps),
            "eps_outside": (xd - mean) / (np.sqrt(var) + eps),
            "no_sqrt": (xd - mean) / (var + eps),
            "no_mean": xd / np.sqrt(var + eps),
            "unbiased": _norm(x, (1, 2), eps, ddof=1),
        }
        if eps != 1e-5:
            mistakes["fixed_epsilon"] = _norm(x, (1, 2), 1e-5)
        out[i] = ({"x": x, "epsilon": np.float64(eps)}, expected,
                  {k: v.astype(np.float32) for k, v in mistakes.items() if np.all(np.isfinite(v))})
    return out


def check_instance_norm(instance_norm):
    """Check ``instance_norm(x, epsilon)``: ``(x - mean) / sqrt(variance + epsilon)`` with one mean
    and one (biased) variance per image and per channel, over the height and the width.

    The inputs are float32 tensors ``(N, H, W, C)``: images and channels with different means and
    spreads, and a constant channel, where only epsilon avoids 0 / 0. The answer has ``x``'s shape,
    and a gradient must flow through it (the network trains through it).

    Args:
        instance_norm: the function written in notebook 09.
    """
    tf = _tf()
    fn = instance_norm
    cases = _cases("instance_norm")
    for case in cases:
        x, eps = case["inputs"]["x"], float(case["inputs"]["epsilon"])
        text = f"x of shape {x.shape}, epsilon={eps:g}"
        got = _answer(fn, (tf.constant(x), eps), text, x.shape, _keepdims_hint)
        want = case["expected"].astype(np.float64)
        if not np.all(np.isfinite(got)):
            constant = np.ptp(x, axis=(1, 2)).min() == 0
            _fail(fn, text, _NO_EPSILON if constant else
                  "it returned NaN or infinite values: is there a division by zero?")
        if np.allclose(got, want, rtol=1e-4, atol=1e-4):
            continue
        hint = _first_mistake(got, case["mistakes"], _IN_HINTS, 1e-4, 1e-4)
        if hint:
            _fail(fn, text, hint)
        worst = np.unravel_index(np.argmax(np.abs(got - want)), want.shape)
        _fail(fn, text, f"at index {tuple(int(i) for i in worst)} it gives {got[worst]:.6g}, the "
                        f"answer is {want[worst]:.6g}. Each image and channel: subtract the mean "
                        "over the height and the width, divide by sqrt(variance + epsilon).")
    x = cases[-1]["inputs"]["x"]
    _check_gradient(fn, f"x of shape {x.shape}, gradient", [tf.constant(x), 1e-5])
    _success(fn, len(cases), ": per image and channel, with a constant channel")


# --------------------------------------------------------------------------------------------------
# The residual block
# --------------------------------------------------------------------------------------------------

_RB_HINTS = {
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


def _joined_hint(x_shape):
    """What a wrong shape means in the residual block: x and the branch joined, not added."""
    def hint(got_shape):
        if got_shape is None:
            return (" The skip connection adds x and the branch, which have the same shape: "
                    "x + norm_2(conv_2(...)).")
        got, x = tuple(got_shape), tuple(x_shape)
        doubled = len(got) == len(x) and sum(g != s for g, s in zip(got, x)) == 1 and all(
            g in (s, 2 * s) for g, s in zip(got, x))
        stacked = len(got) == len(x) + 1 and any(got[:a] + got[a + 1:] == x and got[a] == 2
                                                 for a in range(len(got)))
        if not (doubled or stacked):
            return ""
        how = "concatenated x and the branch (tf.concat)" if doubled else \
            "stacked x and the branch (tf.stack)"
        return (f" You {how}: the skip connection adds them, element by element, "
                "x + norm_2(conv_2(...)), which keeps x's shape.")
    return hint


def _rb_layers(inputs):
    """The callables of a residual-block case: mirror-padded 3x3 convolutions and instance
    normalisations with the stored weights (named, so that messages read well)."""
    from .feedforward import instance_norm

    tf = _tf()

    def make_conv(k, b, name):
        kernel, bias = tf.constant(k), tf.constant(b)

        def conv(t):
            t = tf.pad(t, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
            return tf.nn.conv2d(t, kernel, 1, "VALID") + bias

        conv.__name__ = name
        return conv

    def make_norm(g, b, name):
        gamma, beta = tf.constant(g), tf.constant(b)

        def norm(t):
            return instance_norm(t, 1e-5) * gamma + beta

        norm.__name__ = name
        return norm

    return (make_conv(inputs["kernel_1"], inputs["bias_1"], "conv_1"),
            make_norm(inputs["gamma_1"], inputs["beta_1"], "norm_1"),
            make_conv(inputs["kernel_2"], inputs["bias_2"], "conv_2"),
            make_norm(inputs["gamma_2"], inputs["beta_2"], "norm_2"))


def _gen_residual_block(rng):
    from .feedforward import residual_block

    tf = _tf()
    relu = tf.nn.relu
    out = {}
    for i, shape in enumerate([(2, 6, 5, 4), (1, 7, 7, 3)]):
        c = shape[-1]
        inputs = {"x": rng.normal(size=shape).astype(np.float32)}
        for j in (1, 2):
            inputs[f"kernel_{j}"] = rng.normal(0, 0.4, size=(3, 3, c, c)).astype(np.float32)
            inputs[f"bias_{j}"] = rng.normal(0, 0.1, size=c).astype(np.float32)
            inputs[f"gamma_{j}"] = rng.uniform(0.5, 1.5, size=c).astype(np.float32)
            inputs[f"beta_{j}"] = rng.normal(0, 0.3, size=c).astype(np.float32)
        c1, n1, c2, n2 = _rb_layers(inputs)
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


def check_residual_block(residual_block):
    """Check ``residual_block(x, conv_1, norm_1, conv_2, norm_2)``: Johnson et al.'s block,
    ``x + norm_2(conv_2(relu(norm_1(conv_1(x)))))``.

    The check passes its own layers (3x3 convolutions and instance normalisations with fixed
    weights) and compares the block's output with the stored one.

    Args:
        residual_block: the function written in notebook 09.
    """
    fn, cases = residual_block, _cases("residual_block")
    for case in cases:
        x = case["inputs"]["x"]
        text = f"x of shape {x.shape}"
        got = _answer(fn, (_tf().constant(x),) + _rb_layers(case["inputs"]), text, x.shape,
                      _joined_hint(x.shape))
        want = case["expected"].astype(np.float64)
        if np.all(np.isfinite(got)) and np.allclose(got, want, rtol=1e-4, atol=1e-4):
            continue
        hint = _first_mistake(got, case["mistakes"], _RB_HINTS, 1e-4, 1e-4)
        if hint:
            _fail(fn, text, hint)
        if np.allclose(got, x, rtol=1e-5, atol=1e-5):
            _fail(fn, text, "it returns x unchanged: add the branch, x + norm_2(conv_2(...)).")
        _fail(fn, text, "the output differs from x + norm_2(conv_2(tf.nn.relu(norm_1(conv_1(x))))): "
                        "use each given layer once, in that order, and add x at the end.")
    inputs = cases[0]["inputs"]
    _check_gradient(fn, f"x of shape {inputs['x'].shape}, gradient",
                    [_tf().constant(inputs["x"])] + list(_rb_layers(inputs)))
    _success(fn, len(cases), ", with the check's own layers")


# --------------------------------------------------------------------------------------------------
# Reference values
# --------------------------------------------------------------------------------------------------

_GENERATORS = {"instance_norm": _gen_instance_norm, "residual_block": _gen_residual_block}


def reference_arrays(name):
    """The arrays of check ``name``'s reference file, computed afresh with the library, in the
    layout :func:`nst_helpers.checks._cases` reads (``c0.in.x``, ``c0.expected``, ``c0.mistake.…``)."""
    cases = _GENERATORS[name](np.random.default_rng([2025, 9, CHECKS.index(name)]))
    arrays = {"n_cases": np.int64(len(cases))}
    for i, (inputs, expected, mistakes) in cases.items():
        arrays.update({f"c{i}.in.{k}": np.asarray(v) for k, v in inputs.items()})
        arrays.update({f"c{i}.mistake.{k}": np.asarray(v) for k, v in mistakes.items()},
                      **{f"c{i}.expected": np.asarray(expected)})
    return arrays


def regenerate(folder=None):
    """Write this module's reference files into ``folder`` (default: ``data/checks``)."""
    import pathlib

    from . import checks

    folder = pathlib.Path(folder) if folder is not None else checks._ROOT / "data" / "checks"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in CHECKS:
        path = folder / f"{name}.npz"
        _save_npz(path, reference_arrays(name))
        checks._CACHE.pop(name, None)
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nst_helpers.feedforward_checks",
                                     description="Rewrite the reference values of notebook 09's "
                                                 "checks in data/checks.")
    parser.add_argument("--regenerate", action="store_true", help="recompute and write them")
    parser.add_argument("--out", default=None, help="folder to write to (default: data/checks)")
    args = parser.parse_args(argv)
    if args.regenerate:
        print("\n".join(f"wrote {p}" for p in regenerate(args.out)))
    else:
        print(f"Reference values are read from {data_dir()}; pass --regenerate to rewrite them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
