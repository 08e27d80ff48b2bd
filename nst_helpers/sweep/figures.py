"""A sweep's figures: every run's image (:func:`contact_sheet`) and loss (:func:`loss_figure`)."""

from __future__ import annotations

import os
import pathlib
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..errors import NSTError
from .records import SweepResult, load_sweep

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["contact_sheet", "loss_figure", "write_figures"]


def _records(source: Any) -> list:
    """The finished runs of a sweep folder, a :class:`SweepResult` or a list of records."""
    if isinstance(source, SweepResult):
        return [r for r in source.runs if r.report is not None]
    if isinstance(source, (str, os.PathLike)):
        return load_sweep(source)
    return list(source)


def contact_sheet(
    source: Any, step: int | None = None, cols: int | None = None, size: float = 3.0
) -> Figure:
    """A figure of every run's image (best, or at snapshot ``step``), titled with its settings.

    Args:
        source: a sweep folder, a :class:`SweepResult` or a list of :class:`RunRecord`.
        step: a snapshot step, or None for each run's best image.
        cols: panels per row (default: up to 4).
        size: inches per panel.

    Returns:
        The matplotlib figure.

    Raises:
        NSTError: no run has finished.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

    recs = _records(source)
    if not recs:
        raise NSTError("this sweep has no finished runs yet.")
    cols = cols or min(len(recs), 4)
    rows = -(-len(recs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows * 0.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, rec in zip(axes.flat, recs):
        ax.imshow(rec.image(step))
        r = rec.report
        loss = "none" if r.get("best_loss") is None else f"{r['best_loss']:.3g}"
        ax.set_title(f"{rec.name.replace(',', chr(10))}\nloss {loss}", fontsize=8)
    backbones = sorted({r.report["backbone"] for r in recs})
    fig.suptitle(
        f"{'best images' if step is None else f'step {step}'}; network: {', '.join(backbones)}",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def loss_figure(source: Any, ax: Axes | None = None, log: bool = True) -> Figure:
    """Every run's total loss against steps, on one axis (log scale).

    Args:
        source: a sweep folder, a :class:`SweepResult` or a list of :class:`RunRecord`.
        ax: the axes to draw on (default: a new figure's).
        log: whether the loss axis is logarithmic.

    Returns:
        The figure of ``ax``.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

    recs = _records(source)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for rec in recs:
        hist = [v for v in rec.report["loss_history"] if v is not None]
        ax.plot(np.arange(1, len(hist) + 1), hist, label=rec.name, lw=1)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("total loss (weighted)")
    backbones = sorted({r.report["backbone"] for r in recs})
    ax.set_title(f"network: {', '.join(backbones)}", fontsize=9)
    ax.legend(fontsize=7)
    return cast("Figure", ax.figure)  # the axes of a figure (subfigures are not drawn here)


def write_figures(result: SweepResult) -> list[pathlib.Path]:
    """Draw ``contact_sheet.png`` and ``losses.png`` into the sweep's folder (redrawn each time).

    Args:
        result: the sweep.

    Returns:
        The figures' paths (none while no run has finished).

    Raises:
        NSTError: a figure could not be drawn or written (the runs themselves are not touched).
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

    if not any(r.report is not None for r in result.runs):
        return []
    paths = []
    for name, draw in (("contact_sheet.png", contact_sheet), ("losses.png", loss_figure)):
        path = result.folder / name
        try:
            fig = draw(result)
            try:
                fig.savefig(path, dpi=100)
            finally:
                plt.close(fig)
        except (OSError, ValueError) as err:
            raise NSTError(
                f"{path}: could not be drawn ({getattr(err, 'strerror', None) or err}); "
                "the runs are kept."
            ) from None
        paths.append(path)
    return paths
