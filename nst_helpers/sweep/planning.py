"""A sweep checked before it runs (:func:`plan_sweep`): its runs, snapshots, folder and images.

Everything here is checked without TensorFlow and without writing anything; the result, a
:class:`SweepPlan`, says which runs are done, which run again, and which are damaged.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..choices import vgg_layer_names
from ..config import StyleConfig, preset
from ..errors import NSTError
from ..images import default_max_side, load_image
from .folders import check_out, check_same_sweep, run_state, sweep_header
from .grids import check_backbone, run_name

__all__ = ["SweepPlan", "plan_sweep", "plan_runs", "check_run", "check_snapshots"]


def check_run(cfg: StyleConfig) -> None:
    """The steps, the backbone's name and the layers, checked without loading anything (a weights
    file is looked for by the process that runs, which may be a cluster's worker)."""
    if cfg.steps < 1:
        raise NSTError(f"steps must be at least 1, not {cfg.steps}.")
    spec = check_backbone(cfg.backbone)
    depth = 16 if spec == "vgg16-hed" else 19
    bad = [n for n in (*cfg.content_layers, *cfg.style_layers) if n not in vgg_layer_names(depth)]
    if bad:
        raise NSTError(
            f"unknown layer{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))} "
            f"for backbone {spec}; valid names: {', '.join(vgg_layer_names(depth))}."
        )


def _run_config(base: StyleConfig, settings: dict, name: str) -> StyleConfig:
    """``base`` with one run's ``settings``, checked; a refusal names the run."""
    try:
        cfg = base.replace(**settings)
        check_run(cfg)
    except NSTError as err:
        if not settings:
            raise
        raise NSTError(f"the run {name}: {err}") from None
    return cfg


def plan_runs(runs: Iterable[Mapping[str, Any]], base: StyleConfig) -> list:
    """``[(name, settings, config)]``, every settings dict validated before anything runs."""
    plan: list[tuple[str, dict, StyleConfig]] = []
    seen: dict[str, dict] = {}
    check_run(base)
    for settings in runs:
        if not isinstance(settings, Mapping):
            raise NSTError(f"each run must be a dict of settings, not {settings!r}.")
        settings = dict(settings)
        name = run_name(settings)
        cfg = _run_config(base, settings, name)
        if name in seen:
            same = seen[name] == settings
            raise NSTError(
                f"the run {name} is listed twice; give each run once."
                if same
                else f"the runs {seen[name]} and {settings} would share the folder {name}; "
                "give values that differ in their first six digits."
            )
        seen[name] = settings
        plan.append((name, json.loads(json.dumps(settings)), cfg))
    return plan


def check_snapshots(snapshots: Iterable[int], plan: Sequence = ()) -> tuple:
    """The snapshot steps, sorted and once each; each must come within every run's steps."""
    snapshots = list(snapshots)
    snaps = tuple(sorted(set(snapshots)))
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in snaps):
        raise NSTError(f"snapshots must be whole step numbers >= 1, not {snapshots!r}.")
    for name, _, cfg in plan:
        late = [s for s in snaps if s > cfg.steps]
        if late:
            raise NSTError(
                f"snapshot step {', '.join(map(str, late))} comes after the last step of "
                f"the run {name} ({cfg.steps} steps); give snapshot steps up to "
                f"{cfg.steps}."
            )
    return snaps


def _side(plan: Sequence, base: StyleConfig) -> Any:
    """The longest side to load the images at: the preset's, or the largest a run asks for."""
    sides = {cfg.max_side for _, _, cfg in plan}
    if len(sides) <= 1:
        return base.max_side
    if None in sides:
        return None
    return max(default_max_side() if s == "auto" else s for s in sides)


@dataclasses.dataclass
class SweepPlan:
    """A sweep checked and ready to run (:func:`plan_sweep`): nothing was written yet."""

    folder: pathlib.Path
    header: dict
    runs: list  # [(name, settings, StyleConfig)]
    states: list  # [(state, why, report)], as run_state gives them
    content: np.ndarray
    style: np.ndarray
    snapshots: tuple

    @property
    def todo(self) -> list:
        """The names of the runs that will run."""
        return [run[0] for run, state in zip(self.runs, self.states) if state[0] != "done"]


def plan_sweep(
    content: Any,
    style: Any,
    runs: Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike,
    config: str | StyleConfig = "fast",
    *,
    snapshots: Iterable[int] = (),
    **changes: Any,
) -> SweepPlan:
    """Check a sweep before it runs, writing nothing; :func:`run_plan` runs it.

    Every run's settings, the backbone's name and the layers, the snapshots, the folder (a new
    one that can be made, an empty one, or an earlier sweep of the same images and preset) and
    the images are checked, and each earlier run's folder is read: done, to run again (stopped
    before), or damaged (a missing or unreadable image or report: run again). Raises
    :class:`NSTError` with a one-line reason. See :func:`run_sweep` for the arguments.
    """
    base = preset(config, **changes)
    plan = plan_runs(runs, base)
    snaps = check_snapshots(snapshots, plan)
    out = pathlib.Path(out_dir).expanduser()
    old = check_out(out)
    for source, role in ((content, "content image"), (style, "style image")):
        if isinstance(source, (str, os.PathLike)):  # a file's faults said before TensorFlow
            load_image(source, max_side=None, name=role)
    side = _side(plan, base)
    c_img = load_image(content, max_side=side, name="content image")
    s_img = load_image(style, max_side=side, name="style image")
    header = sweep_header(base, c_img, s_img)
    if old is not None:
        check_same_sweep(out, old, header)
    states = [run_state(out / name, settings) for name, settings, _ in plan]
    return SweepPlan(out, header, plan, states, c_img, s_img, snaps)
