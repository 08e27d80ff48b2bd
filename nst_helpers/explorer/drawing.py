"""Pictures for the explorer's view, drawn without widgets or matplotlib: thumbnails as PNG bytes,
the loss curve as a small inline SVG (so the explorer needs no ipympl)."""

from __future__ import annotations

import html
import io
import math
from typing import Any

import numpy as np
from PIL import Image

from ..images import as_uint8

__all__ = ["CURVES", "loss_curve_svg", "thumbnail_png"]

#: The curves of :func:`loss_curve_svg` and their colours.
CURVES = (("total", "#222222"), ("content", "#1f77b4"), ("style", "#d62728"), ("tv", "#2ca02c"))


def thumbnail_png(image: Any, side: int = 128) -> bytes:
    """PNG bytes of ``image`` shrunk to at most ``side`` pixels on its longest side.

    Args:
        image: an image :func:`nst_helpers.images.as_uint8` takes.
        side: the longest side, in pixels.

    Returns:
        The bytes of a PNG file.
    """
    img = Image.fromarray(as_uint8(image))
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _series(history: dict, steps: list | None) -> list:
    """``(name, colour, x, log10 y)`` of each curve with a positive finite value."""
    series = []
    for name, colour in CURVES:
        values = np.asarray(history.get(name) or [], dtype=np.float64)
        x = (
            np.arange(1, values.size + 1)
            if steps is None
            else np.asarray(steps, np.float64)[: values.size]
        )
        ok = np.isfinite(values) & (values > 0)
        if ok.any():
            series.append((name, colour, x[ok], np.log10(values[ok])))
    return series


class _Frame:
    """The plot's box in pixels and its axes' ranges: steps across, decades of loss up."""

    def __init__(self, series: list, width: int, height: int, title: str | None) -> None:
        self.left, self.top, self.bottom = 46, 18 if title else 8, 26
        self.width, self.height = width, height
        self.pw, self.ph = width - self.left - 8, height - self.top - self.bottom
        xs = np.concatenate([s[2] for s in series]) if series else np.zeros(1)
        ys = np.concatenate([s[3] for s in series]) if series else np.zeros(1)
        self.x0, self.x1 = float(xs.min()), float(xs.max())
        if self.x1 <= self.x0:
            self.x0, self.x1 = self.x0 - 1, self.x1 + 1
        self.y0, self.y1 = math.floor(float(ys.min())), math.ceil(float(ys.max()))
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.pw

    def py(self, y: float) -> float:
        return self.top + (1 - (y - self.y0) / (self.y1 - self.y0)) * self.ph

    def axes(self) -> list:
        """Grid lines at whole decades, their labels, the first and last step, the caption."""
        out = []
        every = max(1, math.ceil((self.y1 - self.y0) / 5))
        right = self.left + self.pw
        for d in range(self.y0, self.y1 + 1, every):
            y = self.py(d)
            out.append(
                f'<line x1="{self.left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>'
            )
            out.append(f'<text x="{self.left - 4}" y="{y + 3:.1f}" text-anchor="end">1e{d}</text>')
        for x in (self.x0, self.x1):
            out.append(
                f'<text x="{self.px(x):.1f}" y="{self.top + self.ph + 12}" '
                f'text-anchor="middle">{x:.0f}</text>'
            )
        out.append(
            f'<text x="{self.left + self.pw / 2}" y="{self.height - 3}" '
            'text-anchor="middle" fill="#666">step (losses weighted, log scale)</text>'
        )
        return out

    def curve(self, i: int, name: str, colour: str, x: Any, y: Any) -> list:
        """One loss as a line (a dot if it has one value) and its entry in the legend."""
        if len(x) == 1:
            out = [
                f'<circle cx="{self.px(x[0]):.1f}" cy="{self.py(y[0]):.1f}" r="2.5" '
                f'fill="{colour}"/>'
            ]
        else:
            points = " ".join(f"{self.px(a):.1f},{self.py(b):.1f}" for a, b in zip(x, y))
            sw = 1.8 if name == "total" else 1.2
            out = [
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{sw}"/>'
            ]
        lx, ly = self.left + self.pw - 62, self.top + 11 + 12 * i
        out.append(
            f'<line x1="{lx}" x2="{lx + 14}" y1="{ly - 3}" y2="{ly - 3}" stroke="{colour}" '
            'stroke-width="2"/>'
        )
        out.append(f'<text x="{lx + 18}" y="{ly}">{name}</text>')
        return out


def loss_curve_svg(
    history: dict,
    steps: list | None = None,
    width: int = 320,
    height: int = 190,
    title: str | None = None,
) -> str:
    """A small log-scale plot of the losses as an SVG string (for an HTML widget; no matplotlib).

    Args:
        history: maps ``total``, ``content``, ``style`` and ``tv`` to lists of values; losses that
            stay at zero are left out.
        steps: the step of each value (default 1, 2, 3 …).
        width, height: the picture's size in pixels.
        title: a line above the plot.

    Returns:
        The ``<svg>`` element as text.
    """
    series = _series(history, steps)
    f = _Frame(series, width, height, title)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="font:10px sans-serif;background:#fff">'
    ]
    if title:
        out.append(
            f'<text x="{f.left + f.pw / 2}" y="12" text-anchor="middle">{html.escape(title)}</text>'
        )
    out.append(
        f'<rect x="{f.left}" y="{f.top}" width="{f.pw}" height="{f.ph}" fill="none" stroke="#999"/>'
    )
    if not series:
        out.append(
            f'<text x="{f.left + f.pw / 2}" y="{f.top + f.ph / 2}" text-anchor="middle" '
            'fill="#666">no losses yet</text></svg>'
        )
        return "".join(out)
    out += f.axes()
    for i, (name, colour, x, y) in enumerate(series):
        out += f.curve(i, name, colour, x, y)
    out.append("</svg>")
    return "".join(out)
