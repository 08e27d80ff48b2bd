"""Self-checking exercises: is the function a student wrote right, and if not, what is wrong?

Each ``check_*`` function takes what a notebook's exercise made (a function, a grid, a result),
runs it on small fixed inputs and compares what comes back with reference values. A right answer
prints one line; a wrong one raises :class:`CheckFailed` (an :class:`AssertionError`) whose message
names the likely mistake and how to fix it, and which Jupyter shows without a traceback::

    from nst_helpers import checks
    checks.check_gram_matrix(gram_matrix)   # ✔ gram_matrix is right (3 test cases).

An exercise that is not written yet (its function still raises ``NotImplementedError``) gets one
line saying so. The loss exercises also take a gradient through the student's function, since a
loss written in NumPy (or with ``.numpy()``) gives the right number but stops the optimisation.

The reference values were computed once by this package's own implementation (``tf.nn.conv2d``,
:func:`nst_helpers.images.from_vgg`, :mod:`nst_helpers.losses`) and stored, with the inputs and the
answers of the classic mistakes, in ``data/checks/*.npz``. Most checks only read those files and
never call the library, so they say the same thing wherever they run. Three cannot: the Adam loop
(:func:`check_adam_loop`) goes through the network, whose numbers depend on the backbone, so it runs
the library's own loop (``stylize`` with the ``seed`` preset) on the stored images and compares;
:func:`check_refined` evaluates one loss of a finished run; :func:`check_sweep_grid` reads the
presets. Regenerate the files (only when an exercise or its reference changes) with::

    python -m nst_helpers.checks --regenerate

Installed from a wheel, the files live in the subpackage ``nst_helpers.check_data``; in a checkout they
are read from ``data/checks/`` beside the package.

Each exercise's hints, reference generator and check sit side by side below. This module imports
TensorFlow, and the library's higher layers, only inside the checks that need them.
"""

import argparse
import importlib.util
import pathlib
import sys

import numpy as np

#: File stem of each check's reference values in ``data/checks/``. New names go at the end: the
#: position seeds each generator's random numbers.
CHECKS = ("conv2d", "deprocess", "content_loss", "gram_matrix", "style_loss", "total_loss",
          "adam_loop", "sweep_grid", "high_frequency_energy", "refined")

_ROOT = pathlib.Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------
# Where the reference values are
# --------------------------------------------------------------------------------------------------


def data_dir():
    """The folder holding the reference ``.npz`` files.

    The subpackage ``nst_helpers.check_data`` when the package was installed with them (a wheel, or an
    editable install that maps it to ``data/checks``), else ``data/checks`` of the checkout.
    """
    try:
        spec = importlib.util.find_spec("nst_helpers.check_data")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            if (pathlib.Path(folder) / f"{CHECKS[0]}.npz").exists():
                return pathlib.Path(folder)
    return _ROOT / "data" / "checks"


_CACHE = {}


def _reference(name):
    if name not in _CACHE:
        path = data_dir() / f"{name}.npz"
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: the reference values of check_{name} are missing; reinstall nst-helpers, or "
                "in a checkout run: python -m nst_helpers.checks --regenerate"
            )
        with np.load(path, allow_pickle=False) as z:
            _CACHE[name] = {key: z[key] for key in z.files}
    return _CACHE[name]


def _cases(name):
    """The test cases of a check: a list of ``{"inputs": {...}, "expected": x, "mistakes": {...}}``."""
    ref = _reference(name)
    cases = []
    for i in range(int(ref["n_cases"])):
        prefix = f"c{i}."
        case = {"inputs": {}, "mistakes": {}, "expected": ref[prefix + "expected"]}
        for key, value in ref.items():
            if key.startswith(prefix + "in."):
                case["inputs"][key[len(prefix + "in."):]] = value
            elif key.startswith(prefix + "mistake."):
                case["mistakes"][key[len(prefix + "mistake."):]] = value
        cases.append(case)
    return cases


_GENERATORS = {}


def _generator(name):
    """Register the function that computes check ``name``'s reference values (see
    :func:`reference_arrays`)."""
    def register(fn):
        _GENERATORS[name] = fn
        return fn
    return register


# --------------------------------------------------------------------------------------------------
# Calling the student's code, comparing answers
# --------------------------------------------------------------------------------------------------


class CheckFailed(AssertionError):
    """A check's verdict: the exercise is not right, or not written, yet.

    Jupyter (IPython) shows only the message, without a traceback through this module: the message
    already says what is wrong, and the traceback would point here, not at the student's code.
    """

    def _render_traceback_(self):
        return [f"\x1b[31m✘ {line}\x1b[0m" if i == 0 else line
                for i, line in enumerate(str(self).splitlines())]


def _fname(fn):
    return getattr(fn, "__name__", None) or type(fn).__name__


def _fail(fn, case_text, hint):
    raise CheckFailed(f"{_fname(fn)} is not right yet ({case_text}).\nHint: {hint}") from None


def _call(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; an unwritten exercise (``NotImplementedError``) fails in one line.

    When the ``NotImplementedError`` comes from another function that ``fn`` calls (a style loss
    calling an unwritten Gram matrix), the line names that one.
    """
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        tb, inner = err.__traceback__, None
        while tb is not None:
            inner = tb.tb_frame.f_code.co_name
            tb = tb.tb_next
        name = _fname(fn)
        if inner and inner not in (name, "_call") and inner.isidentifier():
            what = f"{inner}, which {name} calls, is not written yet"
        else:
            what = f"{name} is not written yet"
        raise CheckFailed(f"{what}: replace `raise NotImplementedError(...)` in its cell with your "
                          "code, run that cell, then this check again.") from None


def _times(r):
    """How a positive ratio ``got / want`` reads: 'twice the expected value', '3 times too small'."""
    named = {2.0: "twice the expected value", 0.5: "half the expected value",
             4.0: "four times the expected value", 0.25: "a quarter of the expected value",
             3.0: "three times the expected value", 1 / 3: "a third of the expected value"}
    for value, text in named.items():
        if abs(r / value - 1) < 1e-3:
            return text
    if abs(r - 1) < 0.01:
        return f"close, but {abs(r - 1) * 100:.2g} % too {'large' if r > 1 else 'small'}"
    if r > 1:
        return f"{r:.3g} times too large"
    return f"{1 / r:.3g} times too small"


def _off_by(got, want):
    """``expected …, got … (how they differ).`` for a scalar answer that matched no known mistake."""
    got, want = float(got), float(want)
    text = f"expected {want:.6g}, got {got:.6g}"
    if want == 0:
        return f"{text} (it should be exactly zero here)."
    if got == 0:
        return f"{text} (yours is zero)."
    r = got / want
    if r < 0:
        if abs(-r - 1) < 1e-3:
            return f"{text} (the sign is wrong: minus the expected value)."
        return f"{text} (the sign is wrong, and in size it is {_times(-r)})."
    return f"{text} ({_times(r)})."


def _as_array(fn, got, case_text, what="an array"):
    """The student's answer as a NumPy array, or a failure saying what came back instead."""
    if got is None:
        _fail(fn, case_text, "it returned None: did you forget the `return` statement?")
    if isinstance(got, (tuple, list)) and len(got) != 1:
        _fail(fn, case_text, f"it returned a {type(got).__name__} of {len(got)} items; return {what}.")
    try:
        arr = np.asarray(got.numpy() if hasattr(got, "numpy") else got)
    except Exception:  # noqa: BLE001 - anything that is not array-like
        _fail(fn, case_text, f"it returned a {type(got).__name__}; return {what}.")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        _fail(fn, case_text, f"it returned a {type(got).__name__} that is not numeric; return {what}.")
    if not np.all(np.isfinite(arr)):
        _fail(fn, case_text, "it returned NaN or infinite values (a division by zero, or a log or "
                             f"square root of a negative number?); return {what}.")
    return arr


def _close(got, want, rtol, atol):
    if got.shape != want.shape:
        return False
    got = got.astype(np.float64)
    if not np.all(np.isfinite(got)):
        return False
    return bool(np.allclose(got, want.astype(np.float64), rtol=rtol, atol=atol))


def _scale(x):
    return float(np.max(np.abs(x))) if np.size(x) else 1.0


def _first_mistake(got, mistakes, hints, rtol, atol=0.0, rel_atol=0.0):
    """The hint of the first stored mistake that ``got`` reproduces, or None.

    ``mistakes`` maps a mistake's name (optionally ``name#variant``) to the answer it gives.
    """
    for key, value in mistakes.items():
        if key.split("#")[0] in hints and _close(got, value, rtol, atol + rel_atol * _scale(value)):
            return hints[key.split("#")[0]]
    return None


def _tf():
    from ._tf import tf

    return tf()


def _tensor(x):
    """A float32 TensorFlow constant (the loss exercises are written with TensorFlow ops)."""
    return _tf().constant(np.asarray(x, dtype=np.float32))


GRADIENT_HINT = ("use TensorFlow ops so that gradients can flow (tf.reduce_mean, tf.square, "
                 "tf.reshape, tf.matmul, +, -, *, /): NumPy functions, .numpy() and float() give the "
                 "right number but no gradient, and the optimisation needs the gradient of the loss "
                 "with respect to the image.")


def _check_gradient(fn, case_text, args, watch=None):
    """Fail unless a gradient flows from ``fn(*args)`` back to every tensor among ``args``.

    Args:
        fn: the student's function.
        case_text: the test case, for the message.
        args: the arguments, TensorFlow tensors or dicts of them.
        watch: which of ``args`` (indices) to differentiate with respect to; default the first.
    """
    tf = _tf()
    watch = [0] if watch is None else list(watch)
    sources = []
    for i in watch:
        arg = args[i]
        sources.extend(arg.values() if isinstance(arg, dict) else [arg])
    try:
        with tf.GradientTape() as tape:
            for s in sources:
                tape.watch(s)
            out = _call(fn, *args)
            if not tf.is_tensor(out):
                _fail(fn, case_text, f"it returns a {type(out).__name__}, not a TensorFlow tensor, so "
                                     "no gradient can flow through it: " + GRADIENT_HINT)
            total = tf.reduce_sum(tf.cast(out, tf.float32))
        grads = tape.gradient(total, sources)
    except CheckFailed:
        raise
    except Exception as err:  # noqa: BLE001 - whatever the student's code does under a tape
        _fail(fn, case_text, f"computing a gradient through it failed ({type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''}): " + GRADIENT_HINT)
    if any(g is None for g in grads):
        _fail(fn, case_text, "it gives the right number but no gradient (the gradient with respect to "
                             "its input is None): " + GRADIENT_HINT)


def _success(fn, n, what=""):
    print(f"✔ {_fname(fn)} is right ({n} test cases{what}).")


# --------------------------------------------------------------------------------------------------
# 1. Convolution (notebook 01)
# --------------------------------------------------------------------------------------------------

_CONV_HINTS = {
    "flipped": "you flipped the kernel. In deep learning (and in tf.nn.conv2d) a 'convolution' slides the "
               "kernel as it is, without flipping (a cross-correlation): "
               "out[i, j] = sum over u, v of image[i*stride + u, j*stride + v] * kernel[u, v].",
    "transposed": "rows and columns are swapped. Index arrays as [row, column]: the first axis of the "
                  "image and of the kernel is the height, the second the width.",
    "mean": "you averaged the products; a convolution sums them (no division by the kernel size).",
    "edge_padding": "pad with zeros (np.pad's default mode='constant'), as tf.nn.conv2d and Keras' "
                    "padding='same' do, not by repeating or mirroring the border.",
    "one_sided": "pad on both sides: `padding` rows of zeros above and below, and `padding` columns left "
                 "and right (np.pad(image, padding)).",
    "window_start": "the output has the right shape, but the window of out[i, j] must start at "
                    "(i*stride, j*stride) of the padded image, not at (i, j): "
                    "x[i*stride:i*stride + kh, j*stride:j*stride + kw].",
}


def _conv_text(inputs):
    h, w = inputs["image"].shape
    kh, kw = inputs["kernel"].shape
    return (f"image {h}x{w}, kernel {kh}x{kw}, stride={int(inputs['stride'])}, "
            f"padding={int(inputs['padding'])}")


def _conv_shape(h, w, kh, kw, stride, padding):
    return ((h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1)


def _ref_conv2d(image, kernel, stride, padding):
    tf = _tf()
    out = tf.nn.conv2d(
        tf.constant(image[None, :, :, None], tf.float32), tf.constant(kernel[:, :, None, None], tf.float32),
        strides=stride, padding=[[0, 0], [padding, padding], [padding, padding], [0, 0]],
    )
    return out.numpy()[0, :, :, 0]


@_generator("conv2d")
def _gen_conv2d(rng):
    specs = [((5, 5), (3, 3), 1, 0), ((5, 5), (3, 3), 1, 1), ((7, 6), (3, 3), 2, 0),
             ((7, 6), (3, 3), 2, 1), ((6, 8), (2, 4), 1, 2), ((9, 8), (5, 3), 3, 2)]
    out = {}
    for i, (shape, kshape, stride, padding) in enumerate(specs):
        image = rng.integers(0, 10, size=shape).astype(np.float32)
        kernel = rng.integers(-3, 4, size=kshape).astype(np.float32)
        expected = _ref_conv2d(image, kernel, stride, padding)
        mistakes = {
            "flipped": _ref_conv2d(image, kernel[::-1, ::-1], stride, padding),
            "mean": expected / kernel.size,
        }
        if kshape[0] == kshape[1]:
            mistakes["transposed"] = _ref_conv2d(image, kernel.T, stride, padding)
        if padding:
            for mode in ("edge", "reflect", "symmetric"):
                padded = np.pad(image, padding, mode=mode)
                mistakes[f"edge_padding#{mode}"] = _ref_conv2d(padded, kernel, stride, 0)
            for j, pads in enumerate((((0, 2 * padding), (0, 2 * padding)),
                                      ((2 * padding, 0), (2 * padding, 0)))):
                mistakes[f"one_sided#{j}"] = _ref_conv2d(np.pad(image, pads), kernel, stride, 0)
        if stride > 1:  # windows at (i, j) instead of (i*stride, j*stride): stride 1, cut to size
            oh, ow = expected.shape
            mistakes["window_start"] = _ref_conv2d(image, kernel, 1, padding)[:oh, :ow]
        out[i] = ({"image": image, "kernel": kernel, "stride": np.int64(stride),
                   "padding": np.int64(padding)}, expected, mistakes)
    return out


def check_conv2d(conv2d):
    """Check ``conv2d(image, kernel, stride=1, padding=0)``: a 2-D convolution in NumPy.

    ``image`` is ``(H, W)``, ``kernel`` ``(kh, kw)``; ``padding`` rows and columns of zeros are added on
    every side, the kernel moves ``stride`` pixels at a time and is not flipped, like
    ``tf.nn.conv2d``. The result has shape ``((H + 2p - kh) // s + 1, (W + 2p - kw) // s + 1)``.

    Args:
        conv2d: the function written in notebook 01.
    """
    cases = _cases("conv2d")
    for case in cases:
        inp = case["inputs"]
        text = _conv_text(inp)
        image, kernel = inp["image"].copy(), inp["kernel"].copy()
        stride, padding = int(inp["stride"]), int(inp["padding"])
        got = _as_array(conv2d, _call(conv2d, image, kernel, stride=stride, padding=padding), text)
        if not (np.array_equal(image, inp["image"]) and np.array_equal(kernel, inp["kernel"])):
            _fail(conv2d, text, "your function changed the image or kernel it was given; "
                                "work on a padded copy (np.pad returns a new array).")
        want = case["expected"]
        rtol, atol = 1e-5, 1e-4 * _scale(want)
        if _close(got, want, rtol, atol):
            continue
        if got.ndim == 2 and got.T.shape == want.shape and _close(got.T, want, rtol, atol):
            _fail(conv2d, text, _CONV_HINTS["transposed"])
        if got.shape != want.shape:
            h, w = image.shape
            kh, kw = kernel.shape
            shapes = {
                "no_padding": _conv_shape(h, w, kh, kw, stride, 0),
                "no_stride": _conv_shape(h, w, kh, kw, 1, padding),
                "neither": _conv_shape(h, w, kh, kw, 1, 0),
            }
            formula = (f"the output should have shape {want.shape}, not {tuple(got.shape)}: "
                       "((H + 2*padding - kh) // stride + 1, (W + 2*padding - kw) // stride + 1).")
            if got.shape == shapes["neither"] and (stride != 1 and padding != 0):
                _fail(conv2d, text, "you ignored both the stride and the padding; " + formula)
            if got.shape == shapes["no_padding"] and padding != 0:
                _fail(conv2d, text, "you ignored the padding: add `padding` rows and columns of zeros "
                                    "on every side first (np.pad(image, padding)); " + formula)
            if got.shape == shapes["no_stride"] and stride != 1:
                _fail(conv2d, text, "you ignored the stride: move the window `stride` pixels at a time "
                                    "(out[i, j] starts at image[i*stride, j*stride]); " + formula)
            _fail(conv2d, text, formula)
        hint = _first_mistake(got, case["mistakes"], _CONV_HINTS, rtol, rel_atol=1e-4)
        if hint:
            _fail(conv2d, text, hint)
        _fail(conv2d, text, f"the shape is right but the values are not: expected\n{want}\ngot\n{got}")
    _success(conv2d, len(cases), ": padding, stride, non-square kernels")


# --------------------------------------------------------------------------------------------------
# 2. Inverse preprocessing (notebook 02)
# --------------------------------------------------------------------------------------------------

_DEPROCESS_HINTS = {
    "bgr": "BGR/RGB swap: VGG's input is BGR, so reverse the channel axis (x[..., ::-1]) to get RGB back.",
    "mean_order": "the means went onto the wrong channels: VGG_MEAN_BGR = [103.939, 116.779, 123.68] is in "
                  "BGR order, so add it before reversing the channels (or add the RGB means "
                  "[123.68, 116.779, 103.939] after).",
    "subtract_mean": "preprocessing subtracted the ImageNet means, so the inverse adds them back "
                     "(you subtracted them again).",
    "no_mean": "you forgot to add the ImageNet means back (VGG_MEAN_BGR, in BGR order).",
    "clip_first": "you clipped before adding the means back. In VGG space the values are centred on 0 "
                  "(blue runs from -103.9 to 151.1), so clipping them to [0, 255] there cuts off every "
                  "darker-than-average value; add VGG_MEAN_BGR first, then clip to [0, 255].",
}


@_generator("deprocess")
def _gen_deprocess(rng):
    from .images import VGG_MAX, VGG_MEAN_BGR, VGG_MIN, from_vgg, to_vgg

    out = {}
    for i, shape in enumerate([(1, 6, 5, 3), (4, 7, 3)]):
        image = rng.integers(0, 256, size=shape[-3:], dtype=np.uint8)
        x = to_vgg(image).numpy()
        x = x if len(shape) == 4 else x[0]
        x = x + rng.uniform(-0.3, 0.3, size=x.shape).astype(np.float32)  # not exactly integers
        flat = x.reshape(-1, 3)
        flat[0] = [-200.0, 180.0, -150.0]  # outside the range of real pixels: to be clipped
        flat[7] = [160.0, -300.0, 140.5]
        flat[-1] = [-120.0, 300.0, -130.0]
        x = flat.reshape(shape).astype(np.float32)
        bgr = x[0] if x.ndim == 4 else x
        mistakes = {
            "bgr": from_vgg(x)[..., ::-1],
            "mean_order": np.clip(bgr[..., ::-1] + VGG_MEAN_BGR, 0, 255).round(),
            "subtract_mean": np.clip((bgr - VGG_MEAN_BGR)[..., ::-1], 0, 255).round(),
            "no_mean": np.clip(bgr[..., ::-1], 0, 255).round(),
            # Not clipped again: values above 255 are what a later uint8 cast wraps or saturates.
            "clip_first": (np.clip(bgr, 0, 255) + VGG_MEAN_BGR)[..., ::-1].astype(np.float64),
        }
        out[i] = ({"x": x, "lo": VGG_MIN, "hi": VGG_MAX}, from_vgg(x), mistakes)
    return out


def _clipped_first(got, mistakes):
    """Whether ``got`` is the clip-then-add-means answer, however its values above 255 were cast."""
    v = mistakes.get("clip_first")
    if v is None:
        return False
    ok = v <= 255.0  # where no uint8 cast can have changed it
    return bool(ok.mean() > 0.5 and np.abs(got.astype(np.float64) - v)[ok].max() <= 1.0)


def check_deprocess(deprocess):
    """Check ``deprocess(x)``: VGG input back to an RGB image.

    ``x`` is a NumPy float32 array ``(1, H, W, 3)`` or ``(H, W, 3)`` in VGG space (BGR, ImageNet means
    removed). The answer is an ``uint8`` ``(H, W, 3)`` RGB image, clipped to 0…255; rounding or
    truncating to integers are both accepted.

    Args:
        deprocess: the function written in notebook 02.
    """
    cases = _cases("deprocess")
    for case in cases:
        x = case["inputs"]["x"]
        text = f"x of shape {x.shape}"
        arg = x.copy()
        got = _as_array(deprocess, _call(deprocess, arg), text, "an uint8 image array")
        if not np.array_equal(arg, x):
            _fail(deprocess, text, "your function changed the array it was given (`x += ...` or "
                                   "`x[..., 0] += ...` work in place); start from a copy: "
                                   "x = np.array(x, dtype=np.float32).")
        want = case["expected"]
        if got.shape == (1,) + want.shape:
            _fail(deprocess, text, f"remove the batch axis: return shape {want.shape}, not "
                                   f"{got.shape} (x[0], or np.squeeze(x, 0), when x.ndim == 4).")
        if got.shape != want.shape:
            _fail(deprocess, text, f"the result should have shape {want.shape} (height, width, 3), "
                                   f"not {got.shape}.")
        if np.issubdtype(got.dtype, np.floating) and np.all(np.isfinite(got)) and got.max() <= 1.0 \
                and np.abs(got * 255 - want).max() <= 1.5:
            _fail(deprocess, text, "return uint8 values 0…255, not floats in [0, 1].")
        if _close(got, want, 0, 1.0):
            if got.dtype != np.uint8:
                _fail(deprocess, text, f"the values are right but the type is {got.dtype}: return "
                                       "uint8 (np.clip(x, 0, 255).astype(np.uint8)), what images use.")
            continue
        if _clipped_first(got, case["mistakes"]):
            _fail(deprocess, text, _DEPROCESS_HINTS["clip_first"])
        inside = np.all((x.reshape(want.shape) >= case["inputs"]["lo"]) &
                        (x.reshape(want.shape) <= case["inputs"]["hi"]), axis=-1)
        if np.abs(got.astype(np.float64) - want)[inside].max() <= 1.0:
            _fail(deprocess, text, "clip to [0, 255] before converting to uint8 (np.clip(x, 0, 255)); "
                                   "otherwise values outside wrap around, e.g. 256 becomes 0 and -1 "
                                   "becomes 255.")
        clipped = np.clip(got.astype(np.float64), 0, 255)
        hint = _first_mistake(clipped, case["mistakes"], _DEPROCESS_HINTS, 0, atol=1.0)
        if hint:
            _fail(deprocess, text, hint)
        _fail(deprocess, text, "the values are wrong: add VGG_MEAN_BGR, reverse the channels (BGR → "
                               "RGB), clip to [0, 255] and convert to uint8.")
    _success(deprocess, len(cases), ": with and without the batch axis, values to clip")


# --------------------------------------------------------------------------------------------------
# 3. Content loss (notebook 03)
# --------------------------------------------------------------------------------------------------

_CONTENT_HINTS = {
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


def _scalar(fn, got, case_text):
    arr = _as_array(fn, got, case_text, "a single number (a scalar tensor)")
    if arr.size != 1:
        _fail(fn, case_text, f"it returned shape {arr.shape}; the loss is one number: reduce over all "
                             "axes at once (tf.reduce_mean(x) without an axis argument).")
    return arr.reshape(())


def _features_text(inputs, key="generated"):
    return f"features of shape {tuple(inputs[key].shape)}"


@_generator("content_loss")
def _gen_content_loss(rng):
    from . import losses

    out = {}
    for i, shape in enumerate([(1, 4, 5, 8), (1, 3, 3, 16), (1, 7, 2, 4)]):
        gen = np.abs(rng.normal(0, 2, size=shape)).astype(np.float32)
        tgt = np.abs(rng.normal(0, 2, size=shape)).astype(np.float32)
        d = gen.astype(np.float64) - tgt
        expected = float(losses.content_loss(gen, tgt, "seed"))
        mistakes = {
            "paper": float(losses.content_loss(gen, tgt, "paper")),
            "sum": np.sum(d ** 2),
            "half_mean": 0.5 * np.mean(d ** 2),
            "abs": np.mean(np.abs(d)),
            "no_square": np.mean(d),
            "sqrt": np.sqrt(np.mean(d ** 2)),
            "norm": np.sqrt(np.sum(d ** 2)),
        }
        out[i] = ({"generated": gen, "target": tgt}, np.float64(expected),
                  {k: np.float64(v) for k, v in mistakes.items()})
    return out


def check_content_loss(content_loss, normalization="seed"):
    """Check ``content_loss(generated, target)`` on two feature maps of the same shape.

    ``normalization="seed"`` (the default) expects the mean squared error ``mean((F - P)**2)``;
    ``"paper"`` expects ``1/2 * sum((F - P)**2)`` (Gatys et al. 2016, eq. 1). The inputs are float32
    TensorFlow tensors ``(1, H, W, C)``; the answer is a scalar through which a gradient flows.

    Args:
        content_loss: the function written in notebook 03.
        normalization: ``"seed"`` or ``"paper"``.
    """
    if normalization not in ("seed", "paper"):
        raise ValueError(f"normalization must be 'seed' or 'paper', not {normalization!r}.")
    cases = _cases("content_loss")
    for case in cases:
        inp = case["inputs"]
        text = _features_text(inp) + f", {normalization} normalisation"
        got = _scalar(content_loss, _call(content_loss, _tensor(inp["generated"]),
                                          _tensor(inp["target"])), text)
        results = {"seed": case["expected"], "paper": case["mistakes"]["paper"]}
        want = results[normalization]
        if _close(got, want, 1e-4, 0):
            continue
        other = "paper" if normalization == "seed" else "seed"
        mistakes = {k: v for k, v in case["mistakes"].items() if k != "paper"}
        mistakes[other] = results[other]
        if normalization == "paper":
            mistakes["mean_not_sum"] = mistakes.pop("half_mean")
            mistakes["no_half"] = mistakes.pop("sum")
        hint = _first_mistake(got, mistakes, _CONTENT_HINTS, 1e-4)
        if hint:
            _fail(content_loss, text, hint)
        _fail(content_loss, text, _off_by(got, want))
    inp = cases[0]["inputs"]
    _check_gradient(content_loss, _features_text(inp) + ", gradient",
                    [_tensor(inp["generated"]), _tensor(inp["target"])])
    _success(content_loss, len(cases), f", {normalization} normalisation")


# --------------------------------------------------------------------------------------------------
# 4. Gram matrix (notebook 04)
# --------------------------------------------------------------------------------------------------

_GRAM_HINTS = {
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


@_generator("gram_matrix")
def _gen_gram_matrix(rng):
    from . import losses

    out = {}
    for i, shape in enumerate([(1, 4, 5, 3), (1, 6, 3, 8), (1, 2, 9, 5)]):
        f = np.abs(rng.normal(0, 1, size=shape)).astype(np.float32)
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
            "by_m2": flat.T @ flat / m ** 2,
            "by_h": flat.T @ flat / h,
            "by_w": flat.T @ flat / w,
            "wrong_reshape": wrong @ wrong.T / m,
            "wrong_reshape_unnormalised": wrong @ wrong.T,
            "centered": centred.T @ centred / m,
        }
        out[i] = ({"features": f}, expected, mistakes)
    return out


def check_gram_matrix(gram_matrix):
    """Check ``gram_matrix(features)``: ``(1, H, W, C)`` features → ``(C, C)`` Gram matrix.

    ``G = F^T F / M`` with ``F`` the features flattened to ``(M, C)``, ``M = H * W`` positions (the
    seed's normalisation). A leading batch axis of 1 in the answer, ``(1, C, C)``, is accepted; a
    gradient must flow through it.

    Args:
        gram_matrix: the function written in notebook 04.
    """
    cases = _cases("gram_matrix")
    for case in cases:
        f = case["inputs"]["features"]
        h, w, c = f.shape[1:]
        text = f"features of shape {f.shape}"
        got = _as_array(gram_matrix, _call(gram_matrix, _tensor(f)), text, "a (C, C) matrix")
        if got.ndim == 3 and got.shape[0] == 1:
            got = got[0]
        want = case["expected"]
        rtol, atol = 1e-4, 1e-6 * _scale(want)
        if _close(got, want, rtol, atol):
            continue
        m = h * w
        if got.shape == (m, m):
            _fail(gram_matrix, text, f"transposed Gram: it returned {m}x{m} (positions x positions). "
                                     f"With F of shape (H * W, C) = ({m}, {c}), the Gram matrix is "
                                     f"F^T F, of shape (C, C) = ({c}, {c}); F F^T compares positions, "
                                     "not channels (tf.matmul(F, F, transpose_a=True)).")
        if got.shape != want.shape:
            _fail(gram_matrix, text, f"the Gram matrix has shape (C, C) = {want.shape}, not {got.shape}.")
        hint = _first_mistake(got, case["mistakes"], _GRAM_HINTS, rtol, rel_atol=1e-6)
        if hint:
            _fail(gram_matrix, text, hint)
        if not _close(got, got.T, 1e-4, 1e-6 * _scale(got)):
            _fail(gram_matrix, text, "a Gram matrix is symmetric (G[i, j] = G[j, i]) and yours is not: "
                                     "multiply the flattened features by themselves, F^T F.")
        _fail(gram_matrix, text, "the shape is right but the values are not: G = F^T F / (H * W) with F "
                                 "the features reshaped to (H * W, C).")
    f = cases[0]["inputs"]["features"]
    _check_gradient(gram_matrix, f"features of shape {f.shape}, gradient", [_tensor(f)])
    _success(gram_matrix, len(cases))


# --------------------------------------------------------------------------------------------------
# 5. Style loss (notebook 04)
# --------------------------------------------------------------------------------------------------

_STYLE_HINTS = {
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


@_generator("style_loss")
def _gen_style_loss(rng):
    from . import losses

    out = {}
    for i, (shape, style_shape) in enumerate([((1, 4, 5, 6), (1, 6, 6, 6)),
                                              ((1, 3, 7, 10), (1, 5, 4, 10))]):
        f = np.abs(rng.normal(0, 1, size=shape)).astype(np.float32)
        s = np.abs(rng.normal(0, 1.3, size=style_shape)).astype(np.float32)
        target = losses.gram_matrix(s).numpy()
        h, w, c = shape[1:]
        m = h * w
        flat = f.reshape(m, c).astype(np.float64)
        g = flat.T @ flat / m
        d = g - target
        raw = flat.T @ flat - target
        expected = float(losses.style_layer_loss(f, target, "seed"))
        paper = float(losses.style_layer_loss(f, target, "paper"))
        mistakes = {
            "seed.sum": np.sum(d ** 2),
            "seed.paper": paper,
            "seed.unnormalised_gram": np.mean(raw ** 2),
            "seed.no_square": np.mean(d),
            "seed.abs": np.mean(np.abs(d)),
            "seed.sqrt": np.sqrt(np.mean(d ** 2)),
            "paper.expected": paper,
            "paper.seed": expected,
            "paper.no_division": np.sum(d ** 2),
            "paper.n_not_squared": np.sum(d ** 2) / (4 * c),
            "paper.double_m": np.sum(d ** 2) / (4 * c ** 2 * m ** 2),
            "paper.features_m": np.sum(d ** 2) / (4 * m ** 2),
            "paper.unnormalised_gram": np.sum(raw ** 2) / (4 * c ** 2),
            "paper.no_square": np.sum(d) / (4 * c ** 2),
        }
        out[i] = ({"features": f, "target_gram": target}, np.float64(expected),
                  {k: np.float64(v) for k, v in mistakes.items()})
    return out


def check_style_loss(style_loss, normalization="seed"):
    """Check ``style_loss(features, target_gram)``: the style loss of one layer.

    ``features`` are the generated image's ``(1, H, W, C)`` features, ``target_gram`` the style image's
    ``(C, C)`` Gram matrix divided by its number of positions. ``normalization="seed"`` (default)
    expects ``mean((G - A)**2)`` with ``G`` the Gram matrix of ``features`` divided by ``H * W``;
    ``"paper"`` expects ``sum((G - A)**2) / (4 C**2)``, which is Gatys et al.'s
    ``E_l = 1 / (4 N² M²) sum((G_raw - A_raw)**2)``. Run :func:`check_gram_matrix` first: this check
    goes through your Gram matrix.

    Args:
        style_loss: the function written in notebook 04.
        normalization: ``"seed"`` or ``"paper"``.
    """
    if normalization not in ("seed", "paper"):
        raise ValueError(f"normalization must be 'seed' or 'paper', not {normalization!r}.")
    cases = _cases("style_loss")
    for case in cases:
        inp = case["inputs"]
        text = _features_text(inp, "features") + f", {normalization} normalisation"
        got = _scalar(style_loss, _call(style_loss, _tensor(inp["features"]),
                                        _tensor(inp["target_gram"])), text)
        mistakes = {k: v for k, v in case["mistakes"].items()
                    if k.startswith(normalization + ".")}
        mistakes = {k.split(".", 1)[1]: v for k, v in mistakes.items()}
        want = case["expected"] if normalization == "seed" else mistakes.pop("expected")
        if _close(got, want, 1e-4, 0):
            continue
        hint = _first_mistake(got, mistakes, _STYLE_HINTS, 1e-4)
        if hint:
            _fail(style_loss, text, hint)
        _fail(style_loss, text, _off_by(got, want) + " Is your gram_matrix right (check_gram_matrix)?")
    inp = cases[0]["inputs"]
    _check_gradient(style_loss, _features_text(inp, "features") + ", gradient",
                    [_tensor(inp["features"]), _tensor(inp["target_gram"])])
    _success(style_loss, len(cases), f", {normalization} normalisation")


# --------------------------------------------------------------------------------------------------
# 6. Total loss (notebook 05)
# --------------------------------------------------------------------------------------------------

_TOTAL_HINTS = {
    "swapped": "the weights are swapped: content_weight multiplies the content loss and style_weight "
               "the style loss.",
    "no_weights": "multiply by the weights: content_weight * (content loss) + style_weight * "
                  "(style loss).",
    "style_sum": "average the style losses over the style layers (the seed's w_l = 1/5 for five "
                 "layers): divide their sum by len(style_targets).",
    "content_sum": "average the content losses over the content layers: divide their sum by "
                   "len(content_targets) (the seed has one content layer, but there may be several).",
    "both_sum": "average over the layers: the sum of the content losses divided by "
                "len(content_targets), the sum of the style losses by len(style_targets).",
    "content_only": "the style loss is missing: add style_weight times the mean of the style losses "
                    "over style_targets' layers.",
    "style_only": "the content loss is missing: add content_weight times the mean of the content "
                  "losses over content_targets' layers.",
    "gram_of_target": "style_targets already hold the style image's Gram matrices: compare them with "
                      "the Gram matrices of features[layer] (your style_loss does), without taking "
                      "their Gram matrix again.",
}


def _split_dicts(inputs):
    """``{"features.block1_conv1": x, "style_weight": w}`` → ``{"features": {"block1_conv1": x}, ...}``."""
    out = {}
    for key, value in inputs.items():
        head, dot, tail = key.partition(".")
        if dot:
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


@_generator("total_loss")
def _gen_total_loss(rng):
    from . import losses

    specs = [  # (content layers, style layers, {layer: shape}, content weight, style weight)
        (("block4_conv2", "block5_conv2"), ("block1_conv1", "block2_conv1", "block3_conv1"),
         {"block1_conv1": (1, 6, 6, 3), "block2_conv1": (1, 3, 3, 5), "block3_conv1": (1, 2, 2, 6),
          "block4_conv2": (1, 2, 2, 7), "block5_conv2": (1, 1, 2, 7)},
         2.0, 5.0),
        (("block5_conv2",), ("block1_conv1", "block2_conv1"),
         {"block1_conv1": (1, 6, 5, 4), "block2_conv1": (1, 3, 3, 6), "block5_conv2": (1, 2, 3, 8)},
         10.0, 0.5),
    ]
    out = {}
    for i, (content_layers, style_layers, shapes, cw, sw) in enumerate(specs):
        feats = {l: np.abs(rng.normal(0, 1, size=s)).astype(np.float32) for l, s in shapes.items()}
        content_t = {l: np.abs(rng.normal(0, 1, size=shapes[l])).astype(np.float32)
                     for l in content_layers}
        style_t = {l: losses.gram_matrix(np.abs(rng.normal(0, 1.3, size=shapes[l])).astype(np.float32))
                   .numpy() for l in style_layers}
        c_each = [float(losses.content_loss(feats[l], content_t[l])) for l in content_layers]
        s_each = [float(losses.style_layer_loss(feats[l], style_t[l])) for l in style_layers]
        regram = [float(losses.style_layer_loss(feats[l], losses.gram_matrix(style_t[l])))
                  for l in style_layers]
        c, s = np.mean(c_each), np.mean(s_each)
        mistakes = {
            "swapped": sw * c + cw * s,
            "no_weights": c + s,
            "style_sum": cw * c + sw * np.sum(s_each),
            "content_only": cw * c,
            "style_only": sw * s,
            "gram_of_target": cw * c + sw * np.mean(regram),
        }
        if len(content_layers) > 1:  # with one content layer, its sum is its mean
            mistakes.update(content_sum=cw * np.sum(c_each) + sw * s,
                            both_sum=cw * np.sum(c_each) + sw * np.sum(s_each))
        inputs = {f"features.{l}": v for l, v in feats.items()}
        inputs.update({f"content_targets.{l}": v for l, v in content_t.items()})
        inputs.update({f"style_targets.{l}": v for l, v in style_t.items()})
        inputs.update(content_weight=np.float64(cw), style_weight=np.float64(sw))
        out[i] = (inputs, np.float64(cw * c + sw * s), {k: np.float64(v) for k, v in mistakes.items()})
    return out


def check_total_loss(total_loss):
    """Check ``total_loss(features, content_targets, style_targets, content_weight, style_weight)``.

    The seed's total loss: ``content_weight`` times the mean over ``content_targets``' layers of the
    content loss, plus ``style_weight`` times the mean over ``style_targets``' layers of the style
    loss (the seed's layer weights ``w_l = 1/L``). ``features`` maps every layer name to the
    image's features, ``content_targets`` content layers to the content image's features,
    ``style_targets`` style layers to the style image's Gram matrices. A gradient must flow back to
    the features.

    Args:
        total_loss: the function written in notebook 05.
    """
    cases = _cases("total_loss")
    for case in cases:
        inp = _split_dicts(case["inputs"])
        text = (f"{len(inp['content_targets'])} content and {len(inp['style_targets'])} style layers, "
                f"weights {float(inp['content_weight']):g} and {float(inp['style_weight']):g}")
        args = [{l: _tensor(v) for l, v in inp[k].items()}
                for k in ("features", "content_targets", "style_targets")]
        args += [float(inp["content_weight"]), float(inp["style_weight"])]
        got = _scalar(total_loss, _call(total_loss, *args), text)
        want = case["expected"]
        if _close(got, want, 1e-4, 0):
            continue
        hint = _first_mistake(got, case["mistakes"], _TOTAL_HINTS, 1e-4)
        if hint:
            _fail(total_loss, text, hint)
        _fail(total_loss, text, _off_by(got, want) + " Are content_loss and style_loss right (their "
                                                      "checks)?")
    inp = _split_dicts(cases[0]["inputs"])
    args = [{l: _tensor(v) for l, v in inp[k].items()}
            for k in ("features", "content_targets", "style_targets")]
    _check_gradient(total_loss, "gradient with respect to the features",
                    args + [float(inp["content_weight"]), float(inp["style_weight"])])
    _success(total_loss, len(cases), ": two content layers and one")


# --------------------------------------------------------------------------------------------------
# 7. The Adam loop (notebook 05)
# --------------------------------------------------------------------------------------------------

_ADAM_HINTS = {
    "no_clip": "the pixels are never clipped. After each step, put the image back into the range of "
               "real pixels, in VGG space: image.assign(tf.clip_by_value(image, VGG_MIN, VGG_MAX)).",
    "rgb_clip": "you clipped to [0, 255], the range of RGB pixels, but the image is in VGG space (BGR, "
                "means removed), where each channel runs from -mean to 255 - mean: clip to "
                "[VGG_MIN, VGG_MAX] (tf.clip_by_value(image, VGG_MIN, VGG_MAX)).",
    "fresh_optimizer": "the optimiser is made anew at every step, so Adam forgets its running averages "
                       "(its momentum) and every step is a first step: make it once, before the loop, "
                       "and use that one optimiser for every step.",
    "adam_defaults": "Adam's settings are Keras' defaults, not the seed's: keras.optimizers.Adam("
                     "learning_rate=2.0, beta_1=0.99, epsilon=0.1).",
    "swapped": "the weights are swapped: give total_loss problem.content_weight for the content loss "
               "and problem.style_weight for the style loss, in that order.",
    "no_gradient": "the optimiser got no gradient: take the gradient of the loss with respect to the "
                   "image variable that Adam updates, tape.gradient(loss, image), and compute the loss "
                   "from that same variable inside the `with tf.GradientTape()` block. A gradient with "
                   "respect to problem.x0 (a constant), or a loss computed with NumPy or .numpy(), is "
                   "None.",
    "new_variable": "Adam was handed another variable than the one it started with: make the image "
                    "a tf.Variable once, before the loop, and update that same variable at every step "
                    "(Keras' optimisers keep their running averages per variable).",
    "frozen": "the loss never changes, so the image is never updated: take the gradient with respect "
              "to the image variable (tape.gradient(loss, image)) and hand Adam that same variable "
              "(optimizer.apply_gradients([(grad, image)])).",
    "last_image": "that is the image after the last update, not the best one: keep a copy of the "
                  "image whose loss is the lowest, taken before the update (best_image = "
                  "tf.identity(image) when loss < best_loss, before apply_gradients). The loss "
                  "computed in a step belongs to the image before that step's update; a tf.Variable "
                  "kept as it is goes on changing.",
    "after_update": "you kept the image after the update of the best step: the loss computed in a "
                    "step belongs to the image before that step's update, so copy the image "
                    "(tf.identity(image)) before apply_gradients.",
    "start_image": "that is the starting image: keep the image whose loss is the lowest, updating it "
                   "whenever a step's loss is lower than the best so far.",
}


@_generator("adam_loop")
def _gen_adam_loop(rng):
    from .samples import load_sample

    content = load_sample("chelsea", size=48).copy()  # 48 x 32 px
    h, w = content.shape[:2]
    content[: h // 3, :] = 255  # saturated regions, where the clip to real pixels acts at once
    content[-h // 4:, : w // 2] = 0
    style = load_sample("swirls", size=32)
    inputs = {"content": content, "style": style, "steps": np.int64(5),
              "content_weight": np.float64(1e3), "style_weight": np.float64(1e-2)}
    return {0: (inputs, np.float64(np.nan), {})}


_ADAM_STATE = {}


def _adam_setup(backbone=None):
    """The loop check's images, extractor and targets, and the library's run on them (cached)."""
    from types import SimpleNamespace

    from . import losses
    from .backbone import load_backbone, resolve_name
    from .config import preset
    from .images import to_vgg

    spec = resolve_name(backbone)
    if spec in _ADAM_STATE:
        return _ADAM_STATE[spec]
    inp = _cases("adam_loop")[0]["inputs"]
    steps = int(inp["steps"])
    cfg = preset("seed", steps=steps, max_side=None, backbone=spec,
                 content_weight=float(inp["content_weight"]), style_weight=float(inp["style_weight"]))
    net = load_backbone(spec)
    extractor = net.extractor(list(cfg.content_layers) + list(cfg.style_layers))
    content_feats = extractor(to_vgg(inp["content"]))
    style_feats = extractor(to_vgg(inp["style"]))
    tf = _tf()
    targets = {
        "content": {l: tf.constant(content_feats[l]) for l in cfg.content_layers},
        "style": {l: tf.constant(losses.gram_matrix(style_feats[l])) for l in cfg.style_layers},
    }

    def problem():
        return SimpleNamespace(x0=to_vgg(inp["content"]), extractor=extractor,
                               content_targets=dict(targets["content"]),
                               style_targets=dict(targets["style"]),
                               content_weight=cfg.content_weight, style_weight=cfg.style_weight)

    from .optimize import stylize  # the library's loop: what the student's must reproduce

    result = stylize(inp["content"], inp["style"], cfg, progress=False)
    state = {"problem": problem, "config": cfg, "steps": steps, "result": result,
             "losses": np.asarray(result.history["total"], np.float64), "variants": {},
             "size": tuple(inp["content"].shape[:2]), "backbone": result.backbone}
    _ADAM_STATE[spec] = state
    return state


def _adam_variant(state, name):
    """``(losses, images before each step, final image)`` of the reference loop with one mistake.

    ``name`` is ``"right"`` or a key of :data:`_ADAM_HINTS` that changes the losses.
    """
    if name in state["variants"]:
        return state["variants"][name]
    import keras

    from . import losses
    from .images import VGG_MAX, VGG_MIN

    tf = _tf()
    cfg, p = state["config"], state["problem"]()

    def adam():
        if name == "adam_defaults":
            return keras.optimizers.Adam(learning_rate=cfg.learning_rate)
        return keras.optimizers.Adam(learning_rate=cfg.learning_rate, beta_1=cfg.beta_1,
                                     beta_2=cfg.beta_2, epsilon=cfg.epsilon)

    image = tf.Variable(p.x0)
    optimizer = adam()
    values, images = [], []
    for _ in range(state["steps"]):
        if name == "fresh_optimizer":
            optimizer = adam()
        with tf.GradientTape() as tape:
            feats = p.extractor(image)
            content = tf.add_n([losses.content_loss(feats[l], t) for l, t in p.content_targets.items()])
            style = tf.add_n([losses.style_layer_loss(feats[l], t) for l, t in p.style_targets.items()])
            content, style = content / len(p.content_targets), style / len(p.style_targets)
            loss = p.content_weight * content + p.style_weight * style
        grad = tape.gradient(loss, image)
        images.append(image.numpy().copy())
        optimizer.apply_gradients([(grad, image)])
        if name == "rgb_clip":
            image.assign(tf.clip_by_value(image, 0.0, 255.0))
        elif name != "no_clip":
            image.assign(tf.clip_by_value(image, VGG_MIN, VGG_MAX))
        values.append(float(loss))
    out = (np.asarray(values), images, image.numpy().copy())
    state["variants"][name] = out
    return out


def _loss_list(fn, text, losses, steps):
    try:
        values = np.asarray([float(np.asarray(v.numpy() if hasattr(v, "numpy") else v))
                             for v in losses], np.float64)
    except (TypeError, ValueError):
        _fail(fn, text, "the second thing returned should be the list of the losses, one number per "
                        f"step; got a {type(losses).__name__}.")
    if values.shape != (steps,):
        _fail(fn, text, f"it returned {values.size} losses for {steps} steps: record one loss per step "
                        "(the loss computed in that step, before its update).")
    if not np.all(np.isfinite(values)):
        _fail(fn, text, "the loss became NaN or infinite: is the learning rate 2.0, and do you clip "
                        "the image after each step?")
    return values


def check_adam_loop(run_adam, backbone=None):
    """Check ``run_adam(problem, steps)``: the seed's Adam loop, against the library's.

    ``problem`` has ``x0`` (the starting image, ``(1, H, W, 3)`` in VGG space), ``extractor`` (layer
    name → features), ``content_targets``, ``style_targets``, ``content_weight`` and
    ``style_weight``. ``run_adam`` makes the image a ``tf.Variable``, makes Adam with the seed's
    settings once, takes ``steps`` steps (loss and gradient under a ``tf.GradientTape``, Adam's
    update, the clip to real pixels in VGG space), and returns ``(best_image, losses)``: the image
    with the lowest loss and the loss of every step. The check runs it for a few steps on small
    stored images and compares its losses, step by step, with those of the library's compiled loop
    (``stylize`` with the ``seed`` preset, the same images and weights), and its image with the
    library's best image; if they differ it runs the classic mistakes to name yours.

    Args:
        run_adam: the function written in notebook 05.
        backbone: the backbone to run on (default ``"auto"``, as the notebooks).
    """
    state = _adam_setup(backbone)
    steps, (h, w) = state["steps"], state["size"]
    text = f"{steps} Adam steps at {w}x{h} px, {state['backbone']}"
    try:
        out = _call(run_adam, state["problem"](), steps)
    except ValueError as err:
        if "Unknown variable" in str(err):
            _fail(run_adam, text, _ADAM_HINTS["new_variable"])
        if "gradient" not in str(err).lower():
            raise
        _fail(run_adam, text, _ADAM_HINTS["no_gradient"])
    except AttributeError as err:
        if "_id" not in str(err):
            raise
        _fail(run_adam, text, "tape.gradient got a NumPy number instead of a tensor: " + GRADIENT_HINT)
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        _fail(run_adam, text, "return two things, the best image and the list of losses: "
                              "`return best_image, losses`.")
    best_image, values = out
    values = _loss_list(run_adam, text, values, steps)
    want = state["losses"]
    right = lambda a, b: bool(np.allclose(a, b, rtol=1e-3, atol=0))  # noqa: E731
    if not right(values[0], want[0]):
        res = state["result"]
        c = res.history["content"][0] / state["config"].content_weight
        s = res.history["style"][0] / state["config"].style_weight
        if right(values[0], state["config"].style_weight * c + state["config"].content_weight * s):
            _fail(run_adam, text, _ADAM_HINTS["swapped"])
        _fail(run_adam, text, f"the first loss, that of the starting image, is {values[0]:.6g}; the "
                              f"library's is {want[0]:.6g} ({_off_by(values[0], want[0])[:-1]}). Is "
                              "total_loss right (check_total_loss), and do you give it "
                              "problem.extractor(image), problem.content_targets, "
                              "problem.style_targets, problem.content_weight and "
                              "problem.style_weight?")
    if np.all(values == values[0]):
        _fail(run_adam, text, _ADAM_HINTS["frozen"])
    if not right(values, want):
        for name in ("no_clip", "rgb_clip", "fresh_optimizer", "adam_defaults"):
            if right(values, _adam_variant(state, name)[0]):
                _fail(run_adam, text, _ADAM_HINTS[name])
        k = int(np.argmax(~np.isclose(values, want, rtol=1e-3, atol=0)))
        where = ("the first update already differs: check the gradient, Adam's settings "
                 "(learning_rate=2.0, beta_1=0.99, epsilon=0.1) and the clip to [VGG_MIN, VGG_MAX]"
                 if k == 1 else
                 "the first update is right and a later one is not: is Adam made once, before the "
                 "loop, and is the image clipped after every step?")
        _fail(run_adam, text, f"your losses part from the library's at step {k}:\n"
                              f"  yours:     {np.array2string(values, precision=6)}\n"
                              f"  library's: {np.array2string(want, precision=6)}\n{where}")
    got = _as_array(run_adam, best_image, text, "the best image, (1, H, W, 3) in VGG space")
    if got.shape not in ((1, h, w, 3), (h, w, 3)):
        _fail(run_adam, text, f"the best image has shape {got.shape}; return it as the image variable "
                              f"has it, (1, {h}, {w}, 3), in VGG space.")
    from .images import from_vgg

    def same(a, b):  # as 8-bit RGB images, within rounding
        a, b = (x if x.dtype == np.uint8 else from_vgg(x) for x in (a, b))
        return int(np.abs(a.astype(int) - b.astype(int)).max()) <= 1

    if same(got, state["result"].image):
        print(f"✔ {_fname(run_adam)} is right ({steps} steps at {w}x{h} px: the same losses as the "
              "library's seed preset, step by step, and its best image).")
        return
    _, images, final = _adam_variant(state, "right")
    best = int(np.argmin(state["losses"]))
    if same(got, final):
        _fail(run_adam, text, _ADAM_HINTS["last_image"])
    if best + 1 < len(images) and same(got, images[best + 1]):
        _fail(run_adam, text, _ADAM_HINTS["after_update"])
    if best != 0 and same(got, images[0]):
        _fail(run_adam, text, _ADAM_HINTS["start_image"])
    _fail(run_adam, text, f"the losses are right but the image returned is not the best one (that of "
                          f"step {best}, loss {state['losses'][best]:.6g}): keep a copy of the image "
                          "whose loss is the lowest, taken before the update.")


# --------------------------------------------------------------------------------------------------
# 8. A sweep of your own (notebook 06)
# --------------------------------------------------------------------------------------------------


@_generator("sweep_grid")
def _gen_sweep_grid(rng):
    inputs = {"preset": np.str_("seed"), "style_weight": np.float64(1e-3),
              "tv_weights": np.array([0.0, 1.0, 10.0])}
    return {0: (inputs, np.float64(np.nan), {})}


#: Settings a sweep entry may set without changing the experiment (the sweep sets them itself).
_SWEEP_FREE = ("max_side", "steps", "backbone")


def check_sweep_grid(grid, name="my_grid"):
    """Check the grid of notebook 06's exercise: the ``seed`` preset, style weight 1e-3, and three TV
    weights, 0, 1 and 10, one run each, changing nothing else.

    Args:
        grid: a list of dicts of settings, as :meth:`nst_helpers.explorer.Explorer.sweep` takes.
        name: what the grid is called in the notebook, for the messages.
    """
    from .config import preset
    from .errors import NSTError

    ref = _cases("sweep_grid")[0]["inputs"]
    want_preset, want_sw = str(ref["preset"]), float(ref["style_weight"])
    want_tv = sorted(float(t) for t in ref["tv_weights"])
    text = "the exercise's sweep"

    def fail(hint):
        raise CheckFailed(f"{name} is not right yet ({text}).\nHint: {hint}") from None

    if isinstance(grid, dict) or not isinstance(grid, (list, tuple)):
        fail(f"{name} should be a list of dicts, one per run, such as "
             f'[{{"preset": "{want_preset}", "style_weight": ..., "tv_weight": ...}}, ...]; '
             f"it is a {type(grid).__name__}.")
    if len(grid) != len(want_tv):
        fail(f"{name} has {len(grid)} entries; the sweep needs {len(want_tv)}, one run per TV weight.")
    base = preset(want_preset)
    tvs = []
    for i, entry in enumerate(grid, start=1):
        if not isinstance(entry, dict):
            fail(f"entry {i} is a {type(entry).__name__}; each entry is a dict of settings.")
        if "preset" not in entry:
            fail(f'entry {i} has no "preset": without one the run starts from the explorer\'s '
                 f'current controls, not from the seed\'s settings; add "preset": "{want_preset}".')
        if entry["preset"] != want_preset:
            fail(f'entry {i} starts from the preset {entry["preset"]!r}; the exercise starts from '
                 f'"{want_preset}".')
        try:
            cfg = preset(entry["preset"], **{k: v for k, v in entry.items() if k != "preset"})
        except NSTError as err:
            fail(f"entry {i}: {err}")
        if not np.isclose(cfg.style_weight, want_sw, rtol=1e-6):
            fail(f"entry {i} has style weight {cfg.style_weight:g}; the exercise uses "
                 f"{want_sw:g} for every run (the seed's default is {base.style_weight:g}).")
        others = [k for k in entry if k not in ("preset", "style_weight", "tv_weight") + _SWEEP_FREE
                  and getattr(cfg, k) != getattr(base, k)]
        if others:
            fail(f"entry {i} also changes {', '.join(others)}: change only the style weight and the "
                 "TV weight, so that the pictures differ by the smoothing alone.")
        tvs.append(cfg.tv_weight)
    if sorted(tvs) != want_tv:
        fail(f"the TV weights are {', '.join(f'{t:g}' for t in tvs)}; try "
             f"{', '.join(f'{t:g}' for t in want_tv)}, one per entry.")
    print(f"✔ {name} is right ({len(grid)} runs from the {want_preset} preset, style weight "
          f"{want_sw:g}, TV weights {', '.join(f'{t:g}' for t in want_tv)}).")


# --------------------------------------------------------------------------------------------------
# 9. High-frequency energy (notebook 07)
# --------------------------------------------------------------------------------------------------

_HFE_HINTS = {
    "uint8": "convert the image to floats first (np.asarray(image, dtype=np.float64)): in uint8, "
             "differences and squares wrap around (3 - 5 is 254, not -2; 16**2 is 0).",
    "vertical_only": "add the neighbour to the right too: mean of np.diff(x, axis=0)**2 plus mean of "
                     "np.diff(x, axis=1)**2.",
    "horizontal_only": "add the neighbour below too: mean of np.diff(x, axis=0)**2 plus mean of "
                       "np.diff(x, axis=1)**2.",
    "sum": "take the means of the squared differences (np.mean), not their sums, so that the energy "
           "does not grow with the image's size.",
    "average": "add the two means (below and to the right); do not average them.",
    "pooled": "take the two means separately (one over the vertical differences, one over the "
              "horizontal ones) and add them, rather than one mean over all differences.",
    "abs": "square the differences instead of taking their absolute value.",
    "sqrt": "do not take a square root: the energy is a sum of two means of squares.",
    "channels": "differences run between neighbouring pixels (axes 0 and 1), not between the colour "
                "channels (axis 2).",
    "gray": "keep the three channels: take the differences of every channel, without averaging the "
            "channels first.",
}


@_generator("high_frequency_energy")
def _gen_high_frequency_energy(rng):
    def energy(x):
        x = np.asarray(x, np.float64)
        return np.mean(np.diff(x, axis=0) ** 2) + np.mean(np.diff(x, axis=1) ** 2)

    yy, xx = np.mgrid[0:6, 0:9]
    smooth = np.stack([xx * 20, yy * 30, xx * yy * 3], -1) + rng.integers(0, 6, size=(6, 9, 3))
    images = [rng.integers(0, 256, size=(7, 5, 3)).astype(np.uint8),
              smooth.clip(0, 255).astype(np.uint8),
              rng.uniform(0, 255, size=(5, 8, 3)),
              rng.uniform(0, 1, size=(4, 6, 3)).astype(np.float32)]
    out = {}
    for i, img in enumerate(images):
        x = img.astype(np.float64)
        dv, dh = np.diff(x, axis=0), np.diff(x, axis=1)
        mistakes = {
            "vertical_only": np.mean(dv ** 2),
            "horizontal_only": np.mean(dh ** 2),
            "sum": np.sum(dv ** 2) + np.sum(dh ** 2),
            "average": (np.mean(dv ** 2) + np.mean(dh ** 2)) / 2,
            "pooled": (np.sum(dv ** 2) + np.sum(dh ** 2)) / (dv.size + dh.size),
            "abs": np.mean(np.abs(dv)) + np.mean(np.abs(dh)),
            "sqrt": np.sqrt(energy(x)),
            "channels": energy(x) + np.mean(np.diff(x, axis=2) ** 2),
            "gray": energy(x.mean(axis=2)),
        }
        if img.dtype == np.uint8:
            wv, wh = np.diff(img, axis=0), np.diff(img, axis=1)  # wrap around
            mistakes["uint8#diff"] = np.mean(wv.astype(np.float64) ** 2) + np.mean(wh.astype(np.float64) ** 2)
            mistakes["uint8#both"] = np.mean(wv ** 2) + np.mean(wh ** 2)
        out[i] = ({"image": img}, np.float64(energy(x)), {k: np.float64(v) for k, v in mistakes.items()})
    return out


def check_high_frequency_energy(high_frequency_energy):
    """Check ``high_frequency_energy(image)``: the mean squared difference of each pixel with its
    neighbour below plus that with its neighbour to the right, over all channels, as one float.

    The test images are ``uint8`` (where differences wrap around unless converted) and float, of
    several shapes.

    Args:
        high_frequency_energy: the function written in notebook 07.
    """
    fn = high_frequency_energy
    cases = _cases("high_frequency_energy")
    for case in cases:
        img = case["inputs"]["image"]
        text = f"{img.dtype} image of shape {img.shape}"
        got = _as_array(fn, _call(fn, img.copy()), text, "a single float")
        if got.size != 1:
            _fail(fn, text, f"it returned shape {got.shape}; return one number for the whole image "
                            "(np.mean without an axis, then float(...)).")
        got = got.reshape(())
        want = case["expected"]
        if _close(got, want, 1e-6, 1e-9):
            continue
        hint = _first_mistake(got, case["mistakes"], _HFE_HINTS, 1e-6)
        if hint:
            _fail(fn, text, hint)
        _fail(fn, text, _off_by(got, want))
    _success(fn, len(cases), ": uint8 and float images")


# --------------------------------------------------------------------------------------------------
# 10. Coarse-to-fine by hand (notebook 08)
# --------------------------------------------------------------------------------------------------


@_generator("refined")
def _gen_refined(rng):
    inputs = {"steps": np.int64(2), "side": np.int64(128)}
    return {0: (inputs, np.float64(np.nan), {})}


def check_refined(refined, coarse, large_photo, style):
    """Check notebook 08's coarse-to-fine by hand: ``refined`` is a run of 2 steps at 128 px on
    ``large_photo``, with ``coarse``'s settings, started from ``coarse.image``.

    Args:
        refined: the student's :class:`~nst_helpers.optimize.StyleResult`.
        coarse: the coarse stage's result (the notebook's).
        large_photo: the photograph at the fine stage's size (the notebook's).
        style: the style image both stages used.
    """
    ref = _cases("refined")[0]["inputs"]
    steps, side = int(ref["steps"]), int(ref["side"])
    text = f"a {side} px run of {steps} steps from coarse.image"

    def fail(hint):
        raise CheckFailed(f"refined is not right yet ({text}).\nHint: {hint}") from None

    if not all(hasattr(refined, k) for k in ("image", "history", "config")):
        if isinstance(refined, np.ndarray):
            fail("refined should be what stylize returns (a StyleResult), not its image: "
                 "refined = stylize(...), without .image.")
        fail(f"refined should be what stylize returns (a StyleResult), not a {type(refined).__name__}.")
    want_shape = tuple(np.asarray(large_photo).shape[:2])
    got_shape = tuple(refined.image.shape[:2])
    if got_shape != want_shape:
        if got_shape == tuple(coarse.image.shape[:2]):
            fail(f"refined is {got_shape[1]}x{got_shape[0]} px, the coarse size: run it on large_photo "
                 f"with max_side={side}.")
        fail(f"refined is {got_shape[1]}x{got_shape[0]} px; a {side} px run of large_photo is "
             f"{want_shape[1]}x{want_shape[0]} (max_side={side}, on large_photo).")
    if refined.config.steps != steps:
        fail(f"refined ran {refined.config.steps} steps; give it steps={steps}.")
    changed = [k for k, v in coarse.config.to_dict().items()
               if k not in ("max_side", "steps") and getattr(refined.config, k) != v]
    if changed:
        k = changed[0]
        fail(f"refined changes {k} ({getattr(coarse.config, k)!r} in coarse, "
             f"{getattr(refined.config, k)!r} in refined): use coarse's settings, the \"fast\" preset "
             "and the same keyword arguments, with only the size and the steps changed.")
    from .optimize import Problem  # one evaluation of the loss, on refined's own settings

    problem = Problem(large_photo, style, refined.config, verbose=False)
    start = float(problem.losses(problem.initial_image(coarse.image))[0])
    first = float(refined.history["total"][0])
    if not np.isclose(first, start, rtol=1e-3):
        # From the photograph the content loss is 0 (in bfloat16, rounding's worth of it).
        photo_start = float(problem.losses(problem.initial_image())[0])
        if np.isclose(first, photo_start, rtol=1e-2):
            fail("refined started from the photograph (its first content loss is 0): pass "
                 "init_image=coarse.image, which stylize enlarges to the content's size.")
        fail(f"refined did not start from coarse.image (its first loss is {first:.6g}, coarse.image's "
             f"{start:.6g}): pass init_image=coarse.image.")
    print(f"✔ refined is right ({side} px, {steps} steps, started from coarse.image enlarged).")


# --------------------------------------------------------------------------------------------------
# Generating the reference values
# --------------------------------------------------------------------------------------------------


def reference_arrays(name):
    """The arrays of check ``name``'s reference file, computed afresh with the library."""
    rng = np.random.default_rng([2024, CHECKS.index(name)])
    cases = _GENERATORS[name](rng)
    arrays = {"n_cases": np.int64(len(cases))}
    for i, (inputs, expected, mistakes) in cases.items():
        for key, value in inputs.items():
            arrays[f"c{i}.in.{key}"] = np.asarray(value)
        arrays[f"c{i}.expected"] = np.asarray(expected)
        for key, value in mistakes.items():
            arrays[f"c{i}.mistake.{key}"] = np.asarray(value)
    return arrays


def _save_npz(path, arrays):
    """Like ``np.savez_compressed``, but byte-for-byte reproducible (fixed timestamps, sorted keys),
    so regenerating unchanged values leaves the files unchanged."""
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def regenerate(folder=None):
    """Write every check's reference file into ``folder`` (default: ``data/checks`` of the checkout)."""
    if folder is None:
        if not (_ROOT / "pyproject.toml").exists():
            raise FileNotFoundError(f"{_ROOT} is not a checkout of the course; pass the folder to write "
                                    "to (--out DIR).")
        folder = _ROOT / "data" / "checks"
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in CHECKS:
        path = folder / f"{name}.npz"
        _save_npz(path, reference_arrays(name))
        paths.append(path)
    _CACHE.clear()
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m nst_helpers.checks", description=__doc__.split("\n")[0])
    parser.add_argument("--regenerate", action="store_true",
                        help="recompute the reference values with the library and write them")
    parser.add_argument("--out", default=None, help="folder to write to (default: data/checks)")
    args = parser.parse_args(argv)
    if not args.regenerate:
        print(f"Reference values are read from {data_dir()}; pass --regenerate to rewrite them.")
        return 0
    for path in regenerate(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
