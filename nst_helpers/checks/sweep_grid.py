"""Notebook 06: a grid of runs of one's own, from the ``seed`` preset, three TV weights."""

from __future__ import annotations

from typing import Any, Callable, NoReturn

import numpy as np

from ..config import StyleConfig, preset
from ..errors import NSTError
from .common import failer, read_cases

__all__ = ["generate", "check_sweep_grid"]


def generate(rng: np.random.Generator) -> dict:
    """The exercise's preset, style weight and TV weights; no answers to store."""
    inputs = {
        "preset": np.str_("seed"),
        "style_weight": np.float64(1e-3),
        "tv_weights": np.array([0.0, 1.0, 10.0]),
    }
    return {0: (inputs, np.float64(np.nan), {})}


#: Settings a sweep entry may set without changing the experiment (the sweep sets them itself).
_SWEEP_FREE = ("max_side", "steps", "backbone")


def check_sweep_grid(grid: list[dict[str, Any]], name: str = "my_grid") -> None:
    """Check the grid of notebook 06's exercise: the ``seed`` preset, style weight 1e-3, and three TV
    weights, 0, 1 and 10, one run each, changing nothing else.

    Args:
        grid: a list of dicts of settings, as :meth:`nst_helpers.explorer.Explorer.sweep` takes.
        name: what the grid is called in the notebook, for the messages.
    """
    ref = read_cases("sweep_grid")[0]["inputs"]
    want_preset, want_sw = str(ref["preset"]), float(ref["style_weight"])
    want_tv = sorted(float(t) for t in ref["tv_weights"])
    fail = failer(name, "the exercise's sweep")
    if isinstance(grid, dict) or not isinstance(grid, (list, tuple)):
        fail(
            f"{name} should be a list of dicts, one per run, such as "
            f'[{{"preset": "{want_preset}", "style_weight": ..., "tv_weight": ...}}, ...]; '
            f"it is a {type(grid).__name__}."
        )
    if len(grid) != len(want_tv):
        fail(
            f"{name} has {len(grid)} entries; the sweep needs {len(want_tv)}, one run per TV weight."
        )
    base = preset(want_preset)
    tvs = [
        _tv_weight(i, entry, base, want_preset, want_sw, fail)
        for i, entry in enumerate(grid, start=1)
    ]
    if sorted(tvs) != want_tv:
        fail(
            f"the TV weights are {', '.join(f'{t:g}' for t in tvs)}; try "
            f"{', '.join(f'{t:g}' for t in want_tv)}, one per entry."
        )
    print(
        f"✔ {name} is right ({len(grid)} runs from the {want_preset} preset, style weight "
        f"{want_sw:g}, TV weights {', '.join(f'{t:g}' for t in want_tv)})."
    )


def _tv_weight(
    i: int,
    entry: Any,
    base: StyleConfig,
    want_preset: str,
    want_sw: float,
    fail: Callable[[str], NoReturn],
) -> float:
    """The TV weight of entry ``i``, once it is known to change only the style weight (to
    ``want_sw``) and the TV weight of the preset ``base``."""
    cfg = _entry_config(i, entry, want_preset, fail)
    if not np.isclose(cfg.style_weight, want_sw, rtol=1e-6):
        fail(
            f"entry {i} has style weight {cfg.style_weight:g}; the exercise uses "
            f"{want_sw:g} for every run (the seed's default is {base.style_weight:g})."
        )
    others = [
        k
        for k in entry
        if k not in ("preset", "style_weight", "tv_weight") + _SWEEP_FREE
        and getattr(cfg, k) != getattr(base, k)
    ]
    if others:
        fail(
            f"entry {i} also changes {', '.join(others)}: change only the style weight and the "
            "TV weight, so that the pictures differ by the smoothing alone."
        )
    return cfg.tv_weight


def _entry_config(
    i: int, entry: Any, want_preset: str, fail: Callable[[str], NoReturn]
) -> StyleConfig:
    """The settings of entry ``i``, a dict of settings starting from the preset ``want_preset``."""
    if not isinstance(entry, dict):
        fail(f"entry {i} is a {type(entry).__name__}; each entry is a dict of settings.")
    if "preset" not in entry:
        fail(
            f'entry {i} has no "preset": without one the run starts from the explorer\'s '
            f'current controls, not from the seed\'s settings; add "preset": "{want_preset}".'
        )
    if entry["preset"] != want_preset:
        fail(
            f"entry {i} starts from the preset {entry['preset']!r}; the exercise starts from "
            f'"{want_preset}".'
        )
    try:
        return preset(entry["preset"], **{k: v for k, v in entry.items() if k != "preset"})
    except NSTError as err:
        fail(f"entry {i}: {err}")
