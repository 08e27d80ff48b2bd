"""Self-checking exercises: is the function a student wrote right, and if not, what is wrong?

Each ``check_*`` function takes the function written in a notebook, calls it on small fixed inputs and
compares what it returns with reference values. A right answer prints one line; a wrong one raises
:class:`AssertionError` whose message names the likely mistake and how to fix it::

    from nst_helpers import checks
    checks.check_gram_matrix(gram_matrix)   # ✔ gram_matrix is right (3 test cases).

The reference values were computed once by this package's own implementation (``tf.nn.conv2d``,
:func:`nst_helpers.images.from_vgg`, :mod:`nst_helpers.losses`) and stored, with the inputs and the
answers of the classic mistakes, in ``data/checks/*.npz``. The checks only read those files; they never
call the library, so they say the same thing wherever they run. Regenerate the files (only when an
exercise or its reference changes) with::

    python -m nst_helpers.checks --regenerate

Installed from a wheel, the files live in the subpackage ``nst_helpers.check_data``; in a checkout they
are read from ``data/checks/`` beside the package.

This module imports TensorFlow only to hand the loss exercises tensors, as the notebooks do.
"""

import argparse
import importlib.util
import pathlib
import sys

import numpy as np

#: File stem of each check's reference values in ``data/checks/``.
CHECKS = ("conv2d", "deprocess", "content_loss", "gram_matrix", "style_loss")

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


# --------------------------------------------------------------------------------------------------
# Comparing answers
# --------------------------------------------------------------------------------------------------


def _fname(fn):
    return getattr(fn, "__name__", None) or type(fn).__name__


def _off_by(got, want):
    """``expected …, got … (… times too large).`` for a scalar answer that matched no known mistake."""
    ratio = float(got) / float(want) if float(want) else float("nan")
    return f"expected {float(want):.6g}, got {float(got):.6g} ({ratio:.4g} times too large)."


def _fail(fn, case_text, hint):
    raise AssertionError(f"{_fname(fn)} is not right yet ({case_text}).\nHint: {hint}") from None


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
        if _close(got, value, rtol, atol + rel_atol * _scale(value)):
            return hints[key.split("#")[0]]
    return None


def _tensor(x):
    """A float32 TensorFlow constant (the loss exercises are written with TensorFlow ops)."""
    from ._tf import tf

    return tf().constant(np.asarray(x, dtype=np.float32))


def _success(fn, n, what=""):
    print(f"✔ {_fname(fn)} is right ({n} test cases{what}).")


# --------------------------------------------------------------------------------------------------
# 1. Convolution
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
}


def _conv_text(inputs):
    h, w = inputs["image"].shape
    kh, kw = inputs["kernel"].shape
    return (f"image {h}x{w}, kernel {kh}x{kw}, stride={int(inputs['stride'])}, "
            f"padding={int(inputs['padding'])}")


def _conv_shape(h, w, kh, kw, stride, padding):
    return ((h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1)


def check_conv2d(conv2d):
    """Check ``conv2d(image, kernel, stride=1, padding=0)``: a 2-D convolution in NumPy.

    ``image`` is ``(H, W)``, ``kernel`` ``(kh, kw)``; ``padding`` rows and columns of zeros are added on
    every side, the kernel moves ``stride`` pixels at a time and is not flipped, like
    ``tf.nn.conv2d``. The result has shape ``((H + 2p - kh) // s + 1, (W + 2p - kw) // s + 1)``.
    """
    cases = _cases("conv2d")
    for case in cases:
        inp = case["inputs"]
        text = _conv_text(inp)
        image, kernel = inp["image"].copy(), inp["kernel"].copy()
        stride, padding = int(inp["stride"]), int(inp["padding"])
        got = _as_array(conv2d, conv2d(image, kernel, stride=stride, padding=padding), text)
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
# 2. Inverse preprocessing
# --------------------------------------------------------------------------------------------------

_DEPROCESS_HINTS = {
    "bgr": "BGR/RGB swap: VGG's input is BGR, so reverse the channel axis (x[..., ::-1]) to get RGB back.",
    "mean_order": "the means went onto the wrong channels: VGG_MEAN_BGR = [103.939, 116.779, 123.68] is in "
                  "BGR order, so add it before reversing the channels (or add the RGB means "
                  "[123.68, 116.779, 103.939] after).",
    "subtract_mean": "preprocessing subtracted the ImageNet means, so the inverse adds them back "
                     "(you subtracted them again).",
    "no_mean": "you forgot to add the ImageNet means back (VGG_MEAN_BGR, in BGR order).",
}


def check_deprocess(deprocess):
    """Check ``deprocess(x)``: VGG input back to an RGB image.

    ``x`` is a NumPy float32 array ``(1, H, W, 3)`` or ``(H, W, 3)`` in VGG space (BGR, ImageNet means
    removed). The answer is an ``uint8`` ``(H, W, 3)`` RGB image, clipped to 0…255; rounding or
    truncating to integers are both accepted.
    """
    cases = _cases("deprocess")
    for case in cases:
        x = case["inputs"]["x"]
        text = f"x of shape {x.shape}"
        arg = x.copy()
        got = _as_array(deprocess, deprocess(arg), text, "an uint8 image array")
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
# 3. Content loss
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


def check_content_loss(content_loss, normalization="seed"):
    """Check ``content_loss(generated, target)`` on two feature maps of the same shape.

    ``normalization="seed"`` (the default) expects the mean squared error ``mean((F - P)**2)``;
    ``"paper"`` expects ``1/2 * sum((F - P)**2)`` (Gatys et al. 2016, eq. 1). The inputs are float32
    TensorFlow tensors ``(1, H, W, C)``; the answer is a scalar.
    """
    if normalization not in ("seed", "paper"):
        raise ValueError(f"normalization must be 'seed' or 'paper', not {normalization!r}.")
    cases = _cases("content_loss")
    for case in cases:
        inp = case["inputs"]
        text = _features_text(inp) + f", {normalization} normalisation"
        got = _scalar(content_loss, content_loss(_tensor(inp["generated"]), _tensor(inp["target"])),
                      text)
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
    _success(content_loss, len(cases), f", {normalization} normalisation")


# --------------------------------------------------------------------------------------------------
# 4. Gram matrix
# --------------------------------------------------------------------------------------------------

_GRAM_HINTS = {
    "unnormalised": "divide by the number of positions M = H * W, so that Gram matrices of images of "
                    "different sizes can be compared (the seed's normalisation).",
    "by_hwc": "divide by the number of positions H * W only, not by the number of channels too.",
    "by_c": "divide by the number of positions H * W, not by the number of channels C.",
    "wrong_reshape": "wrong axis: flatten the features to (H * W, C), channels last "
                     "(tf.reshape(x, [-1, C])), then take F^T F. Reshaping straight to (C, H * W) "
                     "mixes positions and channels; transpose instead if you want (C, H * W).",
    "wrong_reshape_unnormalised": "wrong axis: flatten the features to (H * W, C), channels last "
                                  "(tf.reshape(x, [-1, C])), then take F^T F and divide by H * W.",
    "centered": "do not subtract the mean: the Gram matrix is a plain sum of products, not a "
                "covariance.",
}


def check_gram_matrix(gram_matrix):
    """Check ``gram_matrix(features)``: ``(1, H, W, C)`` features → ``(C, C)`` Gram matrix.

    ``G = F^T F / M`` with ``F`` the features flattened to ``(M, C)``, ``M = H * W`` positions (the
    seed's normalisation). A leading batch axis of 1 in the answer, ``(1, C, C)``, is accepted.
    """
    cases = _cases("gram_matrix")
    for case in cases:
        f = case["inputs"]["features"]
        h, w, c = f.shape[1:]
        text = f"features of shape {f.shape}"
        got = _as_array(gram_matrix, gram_matrix(_tensor(f)), text, "a (C, C) matrix")
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
    _success(gram_matrix, len(cases))


# --------------------------------------------------------------------------------------------------
# 5. Style loss
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


def check_style_loss(style_loss, normalization="seed"):
    """Check ``style_loss(features, target_gram)``: the style loss of one layer.

    ``features`` are the generated image's ``(1, H, W, C)`` features, ``target_gram`` the style image's
    ``(C, C)`` Gram matrix divided by its number of positions. ``normalization="seed"`` (default)
    expects ``mean((G - A)**2)`` with ``G`` the Gram matrix of ``features`` divided by ``H * W``;
    ``"paper"`` expects ``sum((G - A)**2) / (4 C**2)``, which is Gatys et al.'s
    ``E_l = 1 / (4 N² M²) sum((G_raw - A_raw)**2)``. Run :func:`check_gram_matrix` first: this check
    goes through your Gram matrix.
    """
    if normalization not in ("seed", "paper"):
        raise ValueError(f"normalization must be 'seed' or 'paper', not {normalization!r}.")
    cases = _cases("style_loss")
    for case in cases:
        inp = case["inputs"]
        text = _features_text(inp, "features") + f", {normalization} normalisation"
        got = _scalar(style_loss, style_loss(_tensor(inp["features"]), _tensor(inp["target_gram"])),
                      text)
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
    _success(style_loss, len(cases), f", {normalization} normalisation")


# --------------------------------------------------------------------------------------------------
# Generating the reference values
# --------------------------------------------------------------------------------------------------


def _ref_conv2d(image, kernel, stride, padding):
    from ._tf import tf

    t = tf()
    out = t.nn.conv2d(
        t.constant(image[None, :, :, None], t.float32), t.constant(kernel[:, :, None, None], t.float32),
        strides=stride, padding=[[0, 0], [padding, padding], [padding, padding], [0, 0]],
    )
    return out.numpy()[0, :, :, 0]


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
        out[i] = ({"image": image, "kernel": kernel, "stride": np.int64(stride),
                   "padding": np.int64(padding)}, expected, mistakes)
    return out


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
        }
        out[i] = ({"x": x, "lo": VGG_MIN, "hi": VGG_MAX}, from_vgg(x), mistakes)
    return out


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
            "wrong_reshape": wrong @ wrong.T / m,
            "wrong_reshape_unnormalised": wrong @ wrong.T,
            "centered": centred.T @ centred / m,
        }
        out[i] = ({"features": f}, expected, mistakes)
    return out


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


_GENERATORS = {
    "conv2d": _gen_conv2d,
    "deprocess": _gen_deprocess,
    "content_loss": _gen_content_loss,
    "gram_matrix": _gen_gram_matrix,
    "style_loss": _gen_style_loss,
}


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
