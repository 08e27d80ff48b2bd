"""Notebook 02: ``deprocess(x)``, VGG input back to an RGB image.

Two arrays in VGG space (with and without the batch axis, some values outside real pixels); the
hints name a forgotten BGR swap, the means on the wrong channels, subtracted or missing, and
clipping before adding them back.
"""

from __future__ import annotations

from typing import Any, Callable, NoReturn

import numpy as np

from .answers import as_array, call_student
from .common import fail, first_mistake, is_close, read_cases, succeed

__all__ = ["HINTS", "generate", "check_deprocess"]

HINTS = {
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


def generate(rng: np.random.Generator) -> dict:
    """Two arrays in VGG space, :func:`nst_helpers.images.from_vgg`'s answers and the mistakes'."""
    from ..images import (  # lazy: only the generator needs them
        VGG_MAX,
        VGG_MEAN_BGR,
        VGG_MIN,
        from_vgg,
        to_vgg,
    )

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


def _clipped_first(got: np.ndarray, mistakes: dict[str, np.ndarray]) -> bool:
    """Whether ``got`` is the clip-then-add-means answer, however its values above 255 were cast."""
    v = mistakes.get("clip_first")
    if v is None:
        return False
    ok = v <= 255.0  # where no uint8 cast can have changed it
    return bool(ok.mean() > 0.5 and np.abs(got.astype(np.float64) - v)[ok].max() <= 1.0)


def check_deprocess(deprocess: Callable) -> None:
    """Check ``deprocess(x)``: VGG input back to an RGB image.

    ``x`` is a NumPy float32 array ``(1, H, W, 3)`` or ``(H, W, 3)`` in VGG space (BGR, ImageNet means
    removed). The answer is an ``uint8`` ``(H, W, 3)`` RGB image, clipped to 0…255; rounding or
    truncating to integers are both accepted.

    Args:
        deprocess: the function written in notebook 02.
    """
    cases = read_cases("deprocess")
    for case in cases:
        x = case["inputs"]["x"]
        text = f"x of shape {x.shape}"
        got = _answer_on_a_copy(deprocess, x, text)
        want = case["expected"]
        _check_form(deprocess, text, got, want)
        if not is_close(got, want, 0, 1.0):
            _fail_values(deprocess, text, case, got)
        if got.dtype != np.uint8:
            fail(
                deprocess,
                text,
                f"the values are right but the type is {got.dtype}: return "
                "uint8 (np.clip(x, 0, 255).astype(np.uint8)), what images use.",
            )
    succeed(deprocess, len(cases), ": with and without the batch axis, values to clip")


def _answer_on_a_copy(deprocess: Callable, x: np.ndarray, text: str) -> np.ndarray:
    """``deprocess``'s answer for a copy of ``x``; a failure if it changed that copy."""
    arg = x.copy()
    got = as_array(deprocess, call_student(deprocess, arg), text, "an uint8 image array")
    if not np.array_equal(arg, x):
        fail(
            deprocess,
            text,
            "your function changed the array it was given (`x += ...` or "
            "`x[..., 0] += ...` work in place); start from a copy: "
            "x = np.array(x, dtype=np.float32).",
        )
    return got


def _check_form(deprocess: Callable, text: str, got: np.ndarray, want: np.ndarray) -> None:
    """Fail an answer of the wrong shape (a batch axis kept, say), or floats in [0, 1]."""
    if got.shape == (1,) + want.shape:
        fail(
            deprocess,
            text,
            f"remove the batch axis: return shape {want.shape}, not "
            f"{got.shape} (x[0], or np.squeeze(x, 0), when x.ndim == 4).",
        )
    if got.shape != want.shape:
        fail(
            deprocess,
            text,
            f"the result should have shape {want.shape} (height, width, 3), not {got.shape}.",
        )
    if (
        np.issubdtype(got.dtype, np.floating)
        and np.all(np.isfinite(got))
        and got.max() <= 1.0
        and np.abs(got * 255 - want).max() <= 1.5
    ):
        fail(deprocess, text, "return uint8 values 0…255, not floats in [0, 1].")


def _fail_values(deprocess: Callable, text: str, case: dict[str, Any], got: np.ndarray) -> NoReturn:
    """Fail an answer of the right shape but wrong values, naming the mistake when it is known:
    clipping before adding the means, values wrapped around by a missing clip, a stored mistake."""
    x, want = case["inputs"]["x"], case["expected"]
    if _clipped_first(got, case["mistakes"]):
        fail(deprocess, text, HINTS["clip_first"])
    inside = np.all(
        (x.reshape(want.shape) >= case["inputs"]["lo"])
        & (x.reshape(want.shape) <= case["inputs"]["hi"]),
        axis=-1,
    )
    if np.abs(got.astype(np.float64) - want)[inside].max() <= 1.0:
        fail(
            deprocess,
            text,
            "clip to [0, 255] before converting to uint8 (np.clip(x, 0, 255)); "
            "otherwise values outside wrap around, e.g. 256 becomes 0 and -1 "
            "becomes 255.",
        )
    clipped = np.clip(got.astype(np.float64), 0, 255)
    hint = first_mistake(clipped, case["mistakes"], HINTS, 0, atol=1.0)
    if hint:
        fail(deprocess, text, hint)
    fail(
        deprocess,
        text,
        "the values are wrong: add VGG_MEAN_BGR, reverse the channels (BGR → "
        "RGB), clip to [0, 255] and convert to uint8.",
    )
