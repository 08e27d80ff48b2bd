"""Notebook 08: coarse-to-fine by hand, a short run at a larger size started from the coarse
result, checked by its size, its settings and the loss of its first step."""

from __future__ import annotations

from typing import Any, Callable, NoReturn

import numpy as np

from .common import failer, read_cases

__all__ = ["generate", "check_refined"]


def generate(rng: np.random.Generator) -> dict:
    """The fine stage's steps and size; the answer is computed from the student's own run."""
    inputs = {"steps": np.int64(2), "side": np.int64(128)}
    return {0: (inputs, np.float64(np.nan), {})}


def check_refined(refined: Any, coarse: Any, large_photo: np.ndarray, style: np.ndarray) -> None:
    """Check notebook 08's coarse-to-fine by hand: ``refined`` is a run of 2 steps at 128 px on
    ``large_photo``, with ``coarse``'s settings, started from ``coarse.image``.

    Args:
        refined: the student's :class:`~nst_helpers.optimize.StyleResult`.
        coarse: the coarse stage's result (the notebook's).
        large_photo: the photograph at the fine stage's size (the notebook's).
        style: the style image both stages used.
    """
    ref = read_cases("refined")[0]["inputs"]
    steps, side = int(ref["steps"]), int(ref["side"])
    fail = failer("refined", f"a {side} px run of {steps} steps from coarse.image")
    _check_kind(refined, fail)
    _check_size(refined, coarse, large_photo, side, fail)
    _check_settings(refined, coarse, steps, fail)
    _check_start(refined, coarse, large_photo, style, fail)
    print(f"✔ refined is right ({side} px, {steps} steps, started from coarse.image enlarged).")


def _check_kind(refined: Any, fail: Callable[[str], NoReturn]) -> None:
    """Fail unless ``refined`` is a result of ``stylize`` (its image, say)."""
    if not all(hasattr(refined, k) for k in ("image", "history", "config")):
        if isinstance(refined, np.ndarray):
            fail(
                "refined should be what stylize returns (a StyleResult), not its image: "
                "refined = stylize(...), without .image."
            )
        fail(
            f"refined should be what stylize returns (a StyleResult), not a {type(refined).__name__}."
        )


def _check_size(
    refined: Any, coarse: Any, large_photo: np.ndarray, side: int, fail: Callable[[str], NoReturn]
) -> None:
    """Fail unless ``refined`` has ``large_photo``'s size (the coarse one, say)."""
    want_shape = tuple(np.asarray(large_photo).shape[:2])
    got_shape = tuple(refined.image.shape[:2])
    if got_shape != want_shape:
        if got_shape == tuple(coarse.image.shape[:2]):
            fail(
                f"refined is {got_shape[1]}x{got_shape[0]} px, the coarse size: run it on large_photo "
                f"with max_side={side}."
            )
        fail(
            f"refined is {got_shape[1]}x{got_shape[0]} px; a {side} px run of large_photo is "
            f"{want_shape[1]}x{want_shape[0]} (max_side={side}, on large_photo)."
        )


def _check_settings(refined: Any, coarse: Any, steps: int, fail: Callable[[str], NoReturn]) -> None:
    """Fail unless ``refined`` ran ``steps`` steps with ``coarse``'s other settings."""
    if refined.config.steps != steps:
        fail(f"refined ran {refined.config.steps} steps; give it steps={steps}.")
    changed = [
        k
        for k, v in coarse.config.to_dict().items()
        if k not in ("max_side", "steps") and getattr(refined.config, k) != v
    ]
    if changed:
        k = changed[0]
        fail(
            f"refined changes {k} ({getattr(coarse.config, k)!r} in coarse, "
            f'{getattr(refined.config, k)!r} in refined): use coarse\'s settings, the "fast" preset '
            "and the same keyword arguments, with only the size and the steps changed."
        )


def _check_start(
    refined: Any,
    coarse: Any,
    large_photo: np.ndarray,
    style: np.ndarray,
    fail: Callable[[str], NoReturn],
) -> None:
    """Fail unless ``refined``'s first loss is that of ``coarse.image`` enlarged (the photograph's,
    say)."""
    from ..optimize import (
        Problem,  # lazy: TensorFlow; one evaluation of the loss, refined's settings
    )

    problem = Problem(large_photo, style, refined.config, verbose=False)
    start = float(problem.losses(problem.initial_image(coarse.image))[0])
    first = float(refined.history["total"][0])
    # The run's first loss comes from its compiled graph, this one from an eager call: in bfloat16
    # they round differently (0.1 % seen); the starts told apart differ by tens of per cent.
    rtol = 1e-2 if refined.config.precision == "bfloat16" else 1e-3
    if not np.isclose(first, start, rtol=rtol):
        # From the photograph the content loss is 0 (in bfloat16, rounding's worth of it).
        photo_start = float(problem.losses(problem.initial_image())[0])
        if np.isclose(first, photo_start, rtol=1e-2):
            fail(
                "refined started from the photograph (its first content loss is 0): pass "
                "init_image=coarse.image, which stylize enlarges to the content's size."
            )
        fail(
            f"refined did not start from coarse.image (its first loss is {first:.6g}, coarse.image's "
            f"{start:.6g}): pass init_image=coarse.image."
        )
