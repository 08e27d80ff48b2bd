"""The seed paper's hyperparameter study, reproduced at its own step counts: the stored results.

``tools/seed_study.py`` ran it (a sweep of :mod:`nst_helpers.sweep`: four runs of 7500 Adam steps
with the ``seed`` preset on VGG19, Chelsea the cat and The Starry Night at 256 px) and exported
the images, loss histories and timings to ``data/seed_study/``, shipped with the package as
``nst_helpers.study_data``. This module reads them back and draws them, so that notebook 06 can
show an hour of computing in a second.

Reference:
    The seed: a 2021 course paper (HSE University, MIEM), section 4, "Testing": seven
    configurations, best ``num_iterations=7500, content_weight=1e3, style_weight=1e-3,
    learning_rate=2, trainable=False``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import pathlib
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import NSTError
from .images import load_image
from .samples import load_sample

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "load_seed_study",
    "seed_study_figure",
    "seed_study_panels",
    "seven_table",
    "study_dir",
    "study_image",
    "term_curves_figure",
    "term_histories",
    "term_table",
]

_ROOT = pathlib.Path(__file__).resolve().parents[1]


def study_dir() -> pathlib.Path:
    """The folder with the stored study: ``nst_helpers.study_data``, else the checkout's."""
    try:
        spec = importlib.util.find_spec("nst_helpers.study_data")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (pathlib.Path(location) / "study.json").exists():
            return pathlib.Path(location)
    folder = _ROOT / "data" / "seed_study"
    if not (folder / "study.json").exists():
        raise NSTError(
            "the stored seed study is missing; reinstall the package, or remake it "
            "with: python tools/seed_study.py"
        )
    return folder


@functools.lru_cache(maxsize=1)
def load_seed_study() -> dict[str, Any]:
    """The study's summary: ``runs`` (settings, losses, timings), ``seven`` (the paper's seven
    configurations as ``run`` and ``step``), the precision and ``trainable`` checks."""
    folder = study_dir()
    summary = json.loads((folder / "study.json").read_text())
    with np.load(folder / "histories.npz", allow_pickle=False) as data:
        summary["histories"] = {k: data[k] for k in data.files}
    return summary


def study_image(run: int, step: int) -> np.ndarray:
    """The image of run ``run`` (0-3) at ``step`` 1000 or 7500 (its best image), uint8 RGB."""
    path = study_dir() / f"run{int(run)}_step{int(step)}.jpg"
    if not path.exists():
        raise NSTError(f"the study has no image for run {run} at step {step}; steps: 1000, 7500.")
    return load_image(path, max_side=None)


def seven_table() -> list[dict[str, Any]]:
    """One row per configuration of the paper whose run is done: label, steps, settings and the
    losses at that step."""
    study = load_seed_study()
    rows: list[dict[str, Any]] = []
    for item in study["seven"]:
        run = study["runs"][item["run"]]
        if not run.get("done"):
            continue
        hist = study["histories"][f"run{item['run']}"]
        upto = hist[: item["step"]]
        rows.append(
            {
                "label": item["label"],
                "steps": item["step"],
                "trainable": item["trainable"],
                **run["settings"],
                "loss": float(upto[-1]),
                "best_loss": float(upto.min()),
            }
        )
    return rows


def term_histories(run: int) -> dict[str, np.ndarray]:
    """Run ``run``'s **unweighted** content and style losses at every step.

    The study stores each term as it was recorded, multiplied by its weight (content weight 1e3,
    the run's style weight); dividing by those weights gives terms that compare across runs,
    where the weighted totals do not. Runs exported before the terms were recorded have none.
    """
    study = load_seed_study()
    hist = study["histories"]
    if f"run{run}_content" not in hist:
        raise NSTError(
            f"run {run} of the stored study has no content and style histories; record "
            "them with: python tools/seed_study.py --again"
        )
    cfg = study["runs"][run]["config"]
    return {
        "content": hist[f"run{run}_content"] / cfg["content_weight"],
        "style": hist[f"run{run}_style"] / cfg["style_weight"],
    }


def term_table() -> list[dict[str, Any]]:
    """The unweighted content and style losses of each stored picture: the run's state at step
    1000 and its best image of 7500 steps (the step of its lowest weighted loss), one row each."""
    study = load_seed_study()
    rows: list[dict[str, Any]] = []
    for i, run in enumerate(study["runs"]):
        if not run.get("done"):
            continue
        terms = term_histories(i)
        total = study["histories"][f"run{i}"]
        for step, at in ((1000, 999), (7500, int(np.argmin(total)))):
            rows.append(
                {
                    "run": i,
                    "step": step,
                    "at_step": at + 1,
                    **run["settings"],
                    "content": float(terms["content"][at]),
                    "style": float(terms["style"][at]),
                }
            )
    return rows


def term_curves_figure(size: float = 3.6) -> Figure:
    """Each run's unweighted content and style losses against the step, on log scales.

    Args:
        size: a panel's height in inches.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

    study = load_seed_study()
    fig, axes = plt.subplots(1, 2, figsize=(2 * size * 1.2, size))
    for i, run in enumerate(study["runs"]):
        if not run.get("done"):
            continue
        s, terms = run["settings"], term_histories(i)
        steps = np.arange(1, len(terms["content"]) + 1)
        for ax, term in zip(axes, ("content", "style")):
            ax.loglog(
                steps,
                terms[term],
                lw=1.2,
                label=f"lr {s['learning_rate']:g}, style weight {s['style_weight']:g}",
            )
    for ax, term in zip(axes, ("content", "style")):
        ax.axvline(1000, color="0.6", lw=0.8, ls="--")
        ax.set_xlabel("Adam step")
        ax.set_title(f"{term} loss, unweighted", fontsize=10)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def seed_study_panels(size: float = 3.3) -> Figure:
    """The study's images at full size: the photograph and the painting, then one row per run
    with its picture after 1000 and after 7500 steps, each titled with its weighted loss.

    ``size`` is a panel's width in inches; at the default 100 dpi a 256 px image is shown at about
    its own size, so the strokes can be compared (the seven-panel figure shrinks them).

    Args:
        size: a panel's width in inches.

    Returns:
        The matplotlib figure.

    Raises:
        NSTError: no run of the stored study is done.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

    study = load_seed_study()
    runs = [(i, r) for i, r in enumerate(study["runs"]) if r.get("done")]
    if not runs:
        raise NSTError("no run of the stored study is done; run: python tools/seed_study.py")
    side = study["size"]
    height = size * 170 / 256
    fig, axes = plt.subplots(
        len(runs) + 1, 2, figsize=(2 * size, (len(runs) + 1) * (height + 0.45))
    )
    top = [
        (load_image(load_sample(study["content"]), max_side=side), "the photograph"),
        (load_image(load_sample(study["style"]), max_side=side), "the painting"),
    ]
    for ax, (img, title) in zip(axes[0], top):
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
    for row, (i, run) in zip(axes[1:], runs):
        s, hist = run["settings"], study["histories"][f"run{i}"]
        for ax, step in zip(row, (1000, 7500)):
            ax.imshow(study_image(i, step))
            ax.set_title(
                f"lr {s['learning_rate']:g}, style weight {s['style_weight']:g}: {step} steps"
                f"\nweighted loss {hist[:step].min():.3g}",
                fontsize=9,
            )
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(
        f"The seed's study at {side} px, {runs[0][1]['backbone']}, "
        f"{runs[0][1]['config']['precision']}",
        fontsize=10,
    )
    fig.tight_layout(
        rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight())
    )  # the title above, not on, row 1
    return fig


def seed_study_figure(size: float = 2.6) -> Figure:
    """The seven configurations' images, the photo and the painting, and the four loss curves.

    Args:
        size: a panel's side in inches.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

    study = load_seed_study()
    fig, axes = plt.subplots(2, 5, figsize=(size * 5, size * 2 * 1.0))
    photo, painting = load_sample(study["content"]), load_sample(study["style"])
    cells: list[tuple[np.ndarray | None, str]] = [
        (photo, f"content: {study['content']}"),
        (painting, f"style: {study['style']}"),
    ]
    for item in study["seven"]:
        run = study["runs"][item["run"]]
        if not run.get("done"):
            cells.append((None, f"{item['label']}\nnot run yet"))
            continue
        hist = study["histories"][f"run{item['run']}"][: item["step"]]
        note = " (same image:\nthe image's gradient is the same)" if item["trainable"] else ""
        cells.append(
            (study_image(item["run"], item["step"]), f"{item['label']}\nloss {hist[-1]:.3g}{note}")
        )
    for ax, (img, title) in zip(axes.flat, cells):
        if img is not None:
            ax.imshow(img)
        ax.set_title(title, fontsize=7)
        ax.axis("off")
    ax = axes.flat[-1]
    for i, run in enumerate(study["runs"]):
        if not run.get("done"):
            continue
        s = run["settings"]
        ax.plot(
            np.arange(1, len(study["histories"][f"run{i}"]) + 1),
            study["histories"][f"run{i}"],
            lw=1,
            label=f"lr {s['learning_rate']:g}, sw {s['style_weight']:g}",
        )
    ax.axvline(1000, color="0.6", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xlabel("Adam step", fontsize=7)
    ax.set_title("total loss (weighted)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6)
    done = [r for r in study["runs"] if r.get("done")]
    nets = sorted({f"{r['backbone']}, {r['config']['precision']}" for r in done})
    fig.suptitle(
        f"The seed's study, {study['steps']} Adam steps at {study['size']} px; network: "
        f"{'; '.join(nets) or 'none yet'}",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
