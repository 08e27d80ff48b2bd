"""Coarse-to-fine: optimise a small image, enlarge it, refine it at the next size, and so on.

A step costs about as much as the image has pixels, and a large image needs many steps to settle its
large shapes, because each step moves them only a little. Settling them on a small image first
(256 px), then enlarging the result and refining only its details at 512 px and 1024 px, gives a
large output for a fraction of the arithmetic of a direct run at the final size (the trick of Gatys et al.
2017, and of the multi-resolution scripts of the popular implementations). Each style image is
scaled with the stages, so its texture keeps the size relative to the picture that a direct run at
the final size would give it.

:func:`stylize_coarse_to_fine` runs :func:`~nst_helpers.optimize.stylize` once per size, each stage
starting from the previous stage's result enlarged, and returns one
:class:`~nst_helpers.optimize.StyleResult` for the whole run.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .config import preset
from .errors import NSTError
from .images import MIN_SIDE, PathLike, fit_longest, load_image, resize
from .loop import check_frames_dir

if TYPE_CHECKING:
    from .optimize import StyleResult

__all__ = ["REFINE_SHARE", "parse_sizes", "stylize_coarse_to_fine"]

#: Share of the first stage's steps that each later stage gets by default.
REFINE_SHARE = 1 / 3
#: How a stage ended when the next one may start.
_DONE = ("finished", "converged")


class _Plan(NamedTuple):
    """The stages: their sizes and steps, and the settings every stage shares."""

    sizes: list[int]
    steps: list[int]
    config: Any  # StyleConfig


class _Images(NamedTuple):
    """The content and style images at the final size, and how large each style is to be."""

    content: np.ndarray
    styles: list[np.ndarray]
    share: list[float]  # each style's longest side, as a share of the picture's
    named: bool  # several styles: stylize gets a list


def parse_sizes(sizes: str | int | Sequence[int | str]) -> list[int]:
    """The stages' sizes, checked: whole numbers of pixels, at least :data:`MIN_SIDE`, growing.

    Args:
        sizes: ``"256,512"`` or ``"256 512"``, one number, or a list of them.

    Returns:
        The sizes as ints.

    Raises:
        NSTError: saying which value is wrong and what to give instead.
    """
    parts: list[Any]
    if isinstance(sizes, str):
        parts = [p.strip() for p in sizes.replace(",", " ").split()]
    elif isinstance(sizes, (list, tuple)):
        parts = list(sizes)
    else:
        parts = [sizes]
    out: list[int] = []
    for p in parts:
        try:
            ok = float(p) == int(p) and not isinstance(p, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise NSTError(f"sizes must be whole numbers of pixels, such as 256, 512; not {p!r}.")
        out.append(int(p))
    if not out:
        raise NSTError("sizes is empty; give at least one size, such as (256, 512).")
    if min(out) < MIN_SIDE:
        raise NSTError(f"sizes must be at least {MIN_SIDE} px, not {min(out)}.")
    if any(b <= a for a, b in zip(out, out[1:])):
        raise NSTError(
            f"sizes must grow from stage to stage, such as 256, 512, 1024; not "
            f"{', '.join(map(str, out))}."
        )
    return out


def _check_steps(steps: int | Sequence[int] | None, n: int, default: int) -> list[int]:
    """Steps per stage: as given (one for all, or one per stage), or the default's share."""
    if steps is None:
        first = int(default)
        return [first] + [max(1, math.ceil(first * REFINE_SHARE))] * (n - 1)
    values: list[Any] = list(steps) if isinstance(steps, (list, tuple)) else [steps] * n
    if len(values) != n:
        raise NSTError(
            f"steps has {len(values)} values for {n} sizes; give one per size, "
            "or one number for every stage."
        )
    out = []
    for v in values:
        try:
            ok = not isinstance(v, bool) and float(v) == int(v) and int(v) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise NSTError(f"steps must be whole numbers >= 0, not {v!r}.")
        out.append(int(v))
    return out


def stylize_coarse_to_fine(
    content: Any,
    style: Any,
    sizes: str | Sequence[int] = (256, 512, 1024),
    config: Any = "fast",
    steps: int | Sequence[int] | None = None,
    *,
    style_blend: Sequence[float] | None = None,
    style_masks: Sequence[Any] | None = None,
    init_image: Any = None,
    callback: Callable[..., Any] | None = None,
    callback_every: int = 10,
    frames_every: int | None = None,
    frames_dir: PathLike | None = None,
    progress: bool = True,
    should_stop: Callable[[], bool] | None = None,
    verbose: bool = True,
    force: bool = False,
    **changes: Any,
) -> StyleResult:
    """Style transfer at ``sizes[-1]`` px, optimised coarse to fine over ``sizes``.

    Args:
        content, style: as for :func:`~nst_helpers.optimize.stylize` (``style`` may be a list).
        sizes: longest side of the image at each stage, growing, e.g. ``(256, 512, 1024)``; the
            result has the content's aspect ratio and longest side ``sizes[-1]`` (the content
            image enlarged if smaller). Style images are scaled with the stages (module's text).
        config: a :class:`~nst_helpers.config.StyleConfig` or a preset name.
        steps: steps per stage: one number for every stage, or one per size. Default: the
            config's ``steps`` for the first stage, a third of them for each later one (details).
        style_blend, style_masks, init_image, callback, callback_every, frames_every, progress,
            should_stop, verbose: as for :func:`~nst_helpers.optimize.stylize`, for every stage
            (``init_image`` for the first). Callbacks count steps within each stage.
        frames_dir: frames go to one sub-folder per stage, named by its size (``256px``, ...),
            each checked before the first stage starts; ``force`` replaces frames in them.
        **changes: settings that replace the config's, except ``max_side`` (``sizes`` sets it).

    Returns:
        One :class:`~nst_helpers.optimize.StyleResult` at the final size: the stages' loss
        histories in turn, their steps and seconds added up, ``result.stages`` (a summary dict per
        stage). A stage that is stopped or diverges ends the run, its image enlarged; so does
        Ctrl-C while a later stage is set up or compiled (raised only before the first has ended).
    """
    plan = _plan(sizes, config, steps, changes, frames_dir, frames_every, force)
    images = _load_images(content, style, plan.sizes[-1])
    options = dict(
        style_blend=style_blend,
        style_masks=style_masks,
        init_image=init_image,
        callback=callback,
        callback_every=callback_every,
        frames_every=frames_every,
        frames_dir=frames_dir,
        progress=progress,
        should_stop=should_stop,
        verbose=verbose,
        force=force,
    )
    results, interrupted = _run_stages(plan, images, options)
    return _combine(plan, images, results, interrupted)


def _plan(
    sizes: str | Sequence[int],
    config: Any,
    steps: int | Sequence[int] | None,
    changes: dict[str, Any],
    frames_dir: PathLike | None,
    frames_every: int | None,
    force: bool,
) -> _Plan:
    """The stages' sizes, steps and settings, checked with every stage's frames folder before
    any time is spent."""
    if "max_side" in changes:
        raise NSTError(
            "coarse-to-fine sets the image size of each stage from sizes; drop max_side."
        )
    checked = parse_sizes(sizes)
    cfg = preset(config, **changes)
    plan = _Plan(checked, _check_steps(steps, len(checked), cfg.steps), cfg)
    if frames_dir is not None:
        for side, n in zip(plan.sizes, plan.steps):
            check_frames_dir(_stage_dir(frames_dir, side), frames_every, n, force=force)
    return plan


def _stage_dir(frames_dir: PathLike, side: int) -> pathlib.Path:
    """The frames folder of the stage at ``side`` px: ``frames_dir/256px``."""
    return pathlib.Path(frames_dir) / f"{side}px"


def _load_images(content: Any, style: Any, final: int) -> _Images:
    """The content and style images, no larger than the final size needs."""
    # Lazy: problem starts TensorFlow, and the command line imports this module (parse_sizes)
    # to refuse bad input before TensorFlow loads.
    from .problem import as_list  # noqa: PLC0415

    # Nothing larger than the final size is needed (a large JPEG then decodes at a reduced scale).
    content_full = load_image(content, max_side=final, name="content image")
    styles = as_list(style)
    if not styles:
        raise NSTError("give at least one style image.")
    named = len(styles) > 1
    styles_full = [
        load_image(s, max_side=final, name=f"style image {i + 1}" if named else "style image")
        for i, s in enumerate(styles)
    ]
    # Each style as large, relative to the picture, as a direct run at the final size makes it.
    share = [min(max(s.shape[:2]), final) / final for s in styles_full]
    return _Images(content_full, styles_full, share, named)


def _run_stages(
    plan: _Plan, images: _Images, options: dict[str, Any]
) -> tuple[list[StyleResult], bool]:
    """Run the stages in turn until one ends early; the results, and whether Ctrl-C ended them."""
    results: list[StyleResult] = []
    image: np.ndarray | None = None
    for k, (side, n) in enumerate(zip(plan.sizes, plan.steps)):
        try:  # a stage's set-up and compilation too: Ctrl-C there keeps the stages before it
            r = _run_stage(k, side, n, image, plan, images, options)
        except KeyboardInterrupt:
            if not results:
                raise
            return results, True
        results.append(r)
        image = r.image
        if r.stop_reason not in _DONE:
            break
    return results, False


def _run_stage(
    k: int,
    side: int,
    n: int,
    previous: np.ndarray | None,
    plan: _Plan,
    images: _Images,
    options: dict[str, Any],
) -> StyleResult:
    """Stage ``k``: ``n`` steps at ``side`` px, from the previous stage's image enlarged."""
    # Lazy: optimize starts TensorFlow (see _load_images).
    from .optimize import stylize  # noqa: PLC0415

    shape = fit_longest(images.content.shape, side)
    content_k = resize(images.content, size=shape, label="content image")
    styles_k = []
    for s, share in zip(images.styles, images.share):
        target = fit_longest(s.shape, max(MIN_SIDE, round(share * side)))
        styles_k.append(s if s.shape[:2] == target else resize(s, size=target, label="style image"))
    frames_dir = options["frames_dir"]
    stage = {
        **options,
        "init_image": (
            options["init_image"]
            if k == 0
            else resize(previous, size=shape, label="enlarged result")
        ),
        "frames_dir": None if frames_dir is None else _stage_dir(frames_dir, side),
        "verbose": options["verbose"] and k == 0,
    }
    styles = styles_k if images.named else styles_k[0]
    return stylize(content_k, styles, plan.config, **stage, max_side=side, steps=n)


def _summary(r: StyleResult) -> dict[str, Any]:
    """One stage's line of ``result.stages``."""
    h, w = r.image.shape[:2]
    return {
        "size": [w, h],
        "steps": r.steps,
        "seconds": r.seconds,
        "best_loss": r.best_loss,
        "stop_reason": r.stop_reason,
    }


def _combine(
    plan: _Plan, images: _Images, results: list[StyleResult], interrupted: bool
) -> StyleResult:
    """The stages' results as one: the last image (enlarged if the run ended early), histories
    and frames one after the other, steps and seconds added up."""
    last = results[-1]  # a stage finished (else KeyboardInterrupt was raised)
    offsets = np.cumsum([0] + [r.steps for r in results])
    history = {key: [v for r in results for v in r.history[key]] for key in last.history}
    frames = [(int(off) + step, f) for r, off in zip(results, offsets) for step, f in r.frames]
    image, reason, message = _ending(plan, images, results, interrupted)
    return dataclasses.replace(
        last,
        image=image,
        best_step=int(offsets[-2]) + last.best_step,
        history=history,
        steps=sum(r.steps for r in results),
        seconds=sum(r.seconds for r in results),
        setup_seconds=sum(r.setup_seconds for r in results),
        compile_seconds=sum(r.compile_seconds for r in results),
        stop_reason=reason,
        message=message,
        frames=frames,
        stages=[_summary(r) for r in results],
    )


def _ending(
    plan: _Plan, images: _Images, results: list[StyleResult], interrupted: bool
) -> tuple[np.ndarray, str, str]:
    """The run's image, stop reason and message: a run that ended before the last stage finished
    says so, and its image is enlarged to the final size."""
    last, final = results[-1], plan.sizes[-1]
    image, reason, message = last.image, last.stop_reason, last.message
    if interrupted:
        reason, message = (
            "interrupted",
            (
                f"Interrupted while the {plan.sizes[len(results)]} px stage "
                "was being set up; kept the best image so far."
            ),
        )
    if len(results) < len(plan.sizes) or reason not in _DONE:
        h, w = image.shape[:2]
        message = (f"{message} " if message else "") + (
            f"Coarse-to-fine ended at the {max(h, w)} px stage ({reason}); "
            f"its image was enlarged to {final} px."
        )
        image = resize(image, size=fit_longest(images.content.shape, final), label="result")
    else:
        reason = (
            "finished" if all(r.stop_reason == "finished" for r in results) else last.stop_reason
        )
    return image, reason, message
