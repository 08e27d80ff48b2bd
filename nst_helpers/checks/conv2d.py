"""Notebook 01: ``conv2d(image, kernel, stride=1, padding=0)``, a 2-D convolution in NumPy.

Checked against ``tf.nn.conv2d`` on six images, kernels, strides and paddings; the hints name a
flipped or transposed kernel, averaging, padding by the border, padding on one side and windows that
ignore the stride.
"""

from __future__ import annotations

from typing import Callable, NoReturn

import numpy as np

from .answers import as_array, call_student, tensorflow
from .common import fail, first_mistake, is_close, magnitude, read_cases, succeed

__all__ = ["HINTS", "generate", "check_conv2d"]

HINTS = {
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


def _conv_text(inputs: dict[str, np.ndarray]) -> str:
    """How messages name a test case: the image's and kernel's sizes, the stride and padding."""
    h, w = inputs["image"].shape
    kh, kw = inputs["kernel"].shape
    return (
        f"image {h}x{w}, kernel {kh}x{kw}, stride={int(inputs['stride'])}, "
        f"padding={int(inputs['padding'])}"
    )


def _conv_shape(h: int, w: int, kh: int, kw: int, stride: int, padding: int) -> tuple[int, int]:
    """The shape of the convolution of an ``h x w`` image by a ``kh x kw`` kernel."""
    return ((h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1)


def _ref_conv2d(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """The reference answer, ``tf.nn.conv2d`` of one channel by one kernel."""
    tf = tensorflow()
    out = tf.nn.conv2d(
        tf.constant(image[None, :, :, None], tf.float32),
        tf.constant(kernel[:, :, None, None], tf.float32),
        strides=stride,
        padding=[[0, 0], [padding, padding], [padding, padding], [0, 0]],
    )
    return out.numpy()[0, :, :, 0]


def generate(rng: np.random.Generator) -> dict:
    """Six images and kernels, their ``tf.nn.conv2d`` answers and the classic mistakes'."""
    specs = [
        ((5, 5), (3, 3), 1, 0),
        ((5, 5), (3, 3), 1, 1),
        ((7, 6), (3, 3), 2, 0),
        ((7, 6), (3, 3), 2, 1),
        ((6, 8), (2, 4), 1, 2),
        ((9, 8), (5, 3), 3, 2),
    ]
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
            for j, pads in enumerate(
                (((0, 2 * padding), (0, 2 * padding)), ((2 * padding, 0), (2 * padding, 0)))
            ):
                mistakes[f"one_sided#{j}"] = _ref_conv2d(np.pad(image, pads), kernel, stride, 0)
        if stride > 1:  # windows at (i, j) instead of (i*stride, j*stride): stride 1, cut to size
            oh, ow = expected.shape
            mistakes["window_start"] = _ref_conv2d(image, kernel, 1, padding)[:oh, :ow]
        out[i] = (
            {
                "image": image,
                "kernel": kernel,
                "stride": np.int64(stride),
                "padding": np.int64(padding),
            },
            expected,
            mistakes,
        )
    return out


def check_conv2d(conv2d: Callable) -> None:
    """Check ``conv2d(image, kernel, stride=1, padding=0)``: a 2-D convolution in NumPy.

    ``image`` is ``(H, W)``, ``kernel`` ``(kh, kw)``; ``padding`` rows and columns of zeros are added on
    every side, the kernel moves ``stride`` pixels at a time and is not flipped, like
    ``tf.nn.conv2d``. The result has shape ``((H + 2p - kh) // s + 1, (W + 2p - kw) // s + 1)``.

    Args:
        conv2d: the function written in notebook 01.
    """
    cases = read_cases("conv2d")
    for case in cases:
        inp = case["inputs"]
        text = _conv_text(inp)
        got = _answer_on_copies(conv2d, inp, text)
        want = case["expected"]
        rtol, atol = 1e-5, 1e-4 * magnitude(want)
        if is_close(got, want, rtol, atol):
            continue
        if got.ndim == 2 and got.T.shape == want.shape and is_close(got.T, want, rtol, atol):
            fail(conv2d, text, HINTS["transposed"])
        if got.shape != want.shape:
            _fail_shape(conv2d, text, inp, got.shape, want.shape)
        hint = first_mistake(got, case["mistakes"], HINTS, rtol, rel_atol=1e-4)
        if hint:
            fail(conv2d, text, hint)
        fail(
            conv2d, text, f"the shape is right but the values are not: expected\n{want}\ngot\n{got}"
        )
    succeed(conv2d, len(cases), ": padding, stride, non-square kernels")


def _answer_on_copies(conv2d: Callable, inp: dict[str, np.ndarray], text: str) -> np.ndarray:
    """``conv2d``'s answer for copies of the case's image and kernel; a failure if it changed
    them."""
    image, kernel = inp["image"].copy(), inp["kernel"].copy()
    stride, padding = int(inp["stride"]), int(inp["padding"])
    got = as_array(
        conv2d, call_student(conv2d, image, kernel, stride=stride, padding=padding), text
    )
    if not (np.array_equal(image, inp["image"]) and np.array_equal(kernel, inp["kernel"])):
        fail(
            conv2d,
            text,
            "your function changed the image or kernel it was given; "
            "work on a padded copy (np.pad returns a new array).",
        )
    return got


def _fail_shape(
    conv2d: Callable,
    text: str,
    inp: dict[str, np.ndarray],
    got: tuple[int, ...],
    want: tuple[int, ...],
) -> NoReturn:
    """Fail an answer of shape ``got``, naming the stride or the padding ignored when the shape
    shows it."""
    (h, w), (kh, kw) = inp["image"].shape, inp["kernel"].shape
    stride, padding = int(inp["stride"]), int(inp["padding"])
    formula = (
        f"the output should have shape {want}, not {tuple(got)}: "
        "((H + 2*padding - kh) // stride + 1, (W + 2*padding - kw) // stride + 1)."
    )
    if got == _conv_shape(h, w, kh, kw, 1, 0) and (stride != 1 and padding != 0):
        fail(conv2d, text, "you ignored both the stride and the padding; " + formula)
    if got == _conv_shape(h, w, kh, kw, stride, 0) and padding != 0:
        fail(
            conv2d,
            text,
            "you ignored the padding: add `padding` rows and columns of zeros "
            "on every side first (np.pad(image, padding)); " + formula,
        )
    if got == _conv_shape(h, w, kh, kw, 1, padding) and stride != 1:
        fail(
            conv2d,
            text,
            "you ignored the stride: move the window `stride` pixels at a time "
            "(out[i, j] starts at image[i*stride, j*stride]); " + formula,
        )
    fail(conv2d, text, formula)
