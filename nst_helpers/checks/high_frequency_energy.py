"""Notebook 07: ``high_frequency_energy(image)``, the mean squared difference of neighbouring
pixels, down and across.

Checked on uint8 images (where NumPy's differences wrap around) and float ones.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .answers import as_array, call_student
from .common import fail, first_mistake, is_close, off_by, read_cases, succeed

__all__ = ["HINTS", "generate", "check_high_frequency_energy"]

HINTS = {
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


def generate(rng: np.random.Generator) -> dict:
    """Four images, uint8 and float, with their energies and the mistakes' values."""

    def energy(x: np.ndarray) -> float:
        x = np.asarray(x, np.float64)
        return np.mean(np.diff(x, axis=0) ** 2) + np.mean(np.diff(x, axis=1) ** 2)

    yy, xx = np.mgrid[0:6, 0:9]
    smooth = np.stack([xx * 20, yy * 30, xx * yy * 3], -1) + rng.integers(0, 6, size=(6, 9, 3))
    images: list[np.ndarray] = [
        rng.integers(0, 256, size=(7, 5, 3)).astype(np.uint8),
        smooth.clip(0, 255).astype(np.uint8),
        rng.uniform(0, 255, size=(5, 8, 3)),
        rng.uniform(0, 1, size=(4, 6, 3)).astype(np.float32),
    ]
    out = {}
    for i, img in enumerate(images):
        x = img.astype(np.float64)
        dv, dh = np.diff(x, axis=0), np.diff(x, axis=1)
        mistakes = {
            "vertical_only": np.mean(dv**2),
            "horizontal_only": np.mean(dh**2),
            "sum": np.sum(dv**2) + np.sum(dh**2),
            "average": (np.mean(dv**2) + np.mean(dh**2)) / 2,
            "pooled": (np.sum(dv**2) + np.sum(dh**2)) / (dv.size + dh.size),
            "abs": np.mean(np.abs(dv)) + np.mean(np.abs(dh)),
            "sqrt": np.sqrt(energy(x)),
            "channels": energy(x) + np.mean(np.diff(x, axis=2) ** 2),
            "gray": energy(x.mean(axis=2)),
        }
        if img.dtype == np.uint8:
            wv, wh = np.diff(img, axis=0), np.diff(img, axis=1)  # wrap around
            mistakes["uint8#diff"] = np.mean(wv.astype(np.float64) ** 2) + np.mean(
                wh.astype(np.float64) ** 2
            )
            mistakes["uint8#both"] = np.mean(wv**2) + np.mean(wh**2)
        out[i] = (
            {"image": img},
            np.float64(energy(x)),
            {k: np.float64(v) for k, v in mistakes.items()},
        )
    return out


def check_high_frequency_energy(high_frequency_energy: Callable) -> None:
    """Check ``high_frequency_energy(image)``: the mean squared difference of each pixel with its
    neighbour below plus that with its neighbour to the right, over all channels, as one float.

    The test images are ``uint8`` (where differences wrap around unless converted) and float, of
    several shapes.

    Args:
        high_frequency_energy: the function written in notebook 07.
    """
    fn = high_frequency_energy
    cases = read_cases("high_frequency_energy")
    for case in cases:
        img = case["inputs"]["image"]
        text = f"{img.dtype} image of shape {img.shape}"
        got = as_array(fn, call_student(fn, img.copy()), text, "a single float")
        if got.size != 1:
            fail(
                fn,
                text,
                f"it returned shape {got.shape}; return one number for the whole image "
                "(np.mean without an axis, then float(...)).",
            )
        got = got.reshape(())
        want = case["expected"]
        if is_close(got, want, 1e-6, 1e-9):
            continue
        hint = first_mistake(got, case["mistakes"], HINTS, 1e-6)
        if hint:
            fail(fn, text, hint)
        fail(fn, text, off_by(got, want))
    succeed(fn, len(cases), ": uint8 and float images")
