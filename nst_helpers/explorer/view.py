"""The explorer's view: its tabs, buttons, preview, loss curve and gallery cards, in ipywidgets.

A :class:`View` lays out the :class:`~nst_helpers.explorer.controls.Controls` on tabs beside the
Run and Stop buttons, the progress bar, the messages, the preview image and the loss curve, with the
gallery below; it is the lab's :class:`~nst_helpers.explorer.listener.Listener`, so it shows what
the lab does. It uses only widgets that exist in both ipywidgets 7.7 (Google Colab) and 8
(JupyterLab 4).
"""

from __future__ import annotations

import html
import time
from collections import namedtuple
from collections.abc import Callable
from typing import Any

from ..images import to_png_bytes
from .controls import TABS as SETTING_TABS, Controls, tooltip
from .drawing import loss_curve_svg, thumbnail_png
from .listener import Listener
from .records import Entry, fmt, source_label

__all__ = ["COLOURS", "DRAW_EVERY", "ICONS", "SIDE_BY_SIDE", "TABS", "Card", "View", "card_html"]

#: The tabs, in order: the settings tabs first.
TABS = (*SETTING_TABS, "Sweep", "Save / load")
#: Controls shown side by side on their tab.
SIDE_BY_SIDE = (("seed", "preview_every"),)
#: One gallery card's widgets.
Card = namedtuple("Card", "box image text load save")
#: The look of each kind of message.
COLOURS = {"error": "#b00020", "warning": "#9a6700", "ok": "#1a7f37"}
ICONS = {"error": "✖ ", "warning": "⚠ ", "ok": "✔ "}
#: Seconds between two drawings of the preview and the curve while a run goes on.
DRAW_EVERY = 0.25


def _w() -> Any:
    """The ``ipywidgets`` module, imported here: it is optional, and the lab runs without it."""
    import ipywidgets  # noqa: PLC0415 - lazy: optional (a lab without widgets runs without it)

    return ipywidgets


def card_html(entry: Entry) -> str:
    """The text of a gallery card: images, settings, size, steps, time and losses."""
    r = entry.result
    h, w = r.image.shape[:2]
    loss = entry.final_losses
    stop = "" if r.stop_reason == "finished" else f" · <b>{html.escape(r.stop_reason)}</b>"
    note = f" · <i>{html.escape(entry.note.split(':')[0])}</i>" if entry.note else ""
    return (
        '<div style="font-size:11px;line-height:1.35">'
        f"<b>#{entry.number}</b> {html.escape(source_label(entry.content))} × "
        f"{html.escape(source_label(entry.style))}{note}<br>"
        f"{html.escape(entry.settings_line())}<br>"
        f"{w}×{h} px · {r.steps} steps · {r.seconds:.1f} s{stop}<br>"
        f"loss <b>{fmt(loss['total'])}</b> = content {fmt(loss['content'])} + "
        f"style {fmt(loss['style'])}"
        + (f" + TV {fmt(loss['tv'])}" if loss.get("tv") else "")
        + "</div>"
    )


class View(Listener):
    """The explorer's widgets (see the module's text).

    Args:
        controls: the controls to lay out.
        backbone: the lab's backbone, named in the header.
        guard: wraps a button's action so that an error ends in a message (the lab's ``guarded``).
        actions: what a card's buttons call: ``actions.load(entry)`` and ``actions.save(entry)``.
    """

    cards: dict[int, Card]

    def __init__(self, controls: Controls, backbone: Any, guard: Callable, actions: Any) -> None:
        w = _w()
        self.controls = controls
        self.guard = guard
        self.actions = actions
        self.cards = {}  # run number -> Card
        self.last_draw = 0.0
        self.run_button = self._button(
            "Run",
            "play",
            "nst-run",
            "90px",
            "primary",
            "Run with the current settings (in the background).",
        )
        self.stop_button = self._button(
            "Stop",
            "stop",
            "nst-stop",
            "90px",
            "danger",
            "Stop the run; the best image so far is kept.",
        )
        self.stop_button.disabled = True
        self.sweep_button = self._button(
            "Sweep",
            "th",
            "nst-sweep",
            "90px",
            "",
            "Run every line of the sweep grid into the gallery.",
        )
        self.save_button = self._button(
            "Save latest",
            "save",
            "nst-save",
            "120px",
            "",
            "Save the latest run as PNG + JSON settings.",
        )
        self.clear_button = self._button(
            "Clear gallery", "trash", "nst-clear", "130px", "", "Remove all runs from the gallery."
        )
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="300px"))
        self.status = w.HTML("")
        self.message_html = self._with_class(w.HTML(""), "nst-message")
        self.preview = self._with_class(w.Image(format="png", width="256"), "nst-preview")
        self.preview.layout.display = "none"
        self.curve = self._with_class(w.HTML(""), "nst-curve")
        self.curve.layout.display = "none"
        self.gallery_box = self._with_class(
            w.HBox([], layout=w.Layout(flex_flow="row wrap", width="100%")), "nst-gallery"
        )
        self.tabs = self._tabs()
        self.widget = self._with_class(self._layout(backbone), "nst-explorer")

    @staticmethod
    def _with_class(widget: Any, name: str) -> Any:
        widget.add_class(name)
        return widget

    def _button(self, text: str, icon: str, name: str, width: str, style: str, help: str) -> Any:
        w = _w()
        button = w.Button(
            description=text, icon=icon, button_style=style, layout=w.Layout(width=width)
        )
        return tooltip(self._with_class(button, name), help)

    def _tab(self, tab: str) -> Any:
        """The VBox of one settings tab: its controls in :meth:`Controls.order`, pairs of
        :data:`SIDE_BY_SIDE` in one row, the grid of style layers after the content layer."""
        w = _w()
        c = self.controls.widgets
        names = Controls.order(tab)
        partner = {a: b for a, b in SIDE_BY_SIDE if a in names and b in names}
        children = []
        for name in names:
            if name in partner.values():
                continue  # shown beside its partner
            children.append(w.HBox([c[name], c[partner[name]]]) if name in partner else c[name])
            if name == "content_layer":
                children.append(
                    w.HTML("<b>Style layers</b> (tick to use; numbers are relative weights)")
                )
                children += self.controls.layer_rows
        return w.VBox(children)

    def _tabs(self) -> Any:
        w = _w()
        c = self.controls.widgets
        sweep = w.VBox(
            [
                w.HTML(
                    "<b>Grid</b>: one run per line, starting from the current controls (or from "
                    "the line's <code>\"preset\"</code>) with the line's settings changed."
                ),
                c["sweep_grid"],
                c["sweep_size"],
                c["sweep_steps"],
                self.sweep_button,
            ]
        )
        files = w.VBox(
            [
                c["folder"],
                w.HBox([self.save_button, c["load_upload"]]),
                w.HTML("Each gallery card has its own <i>Save</i> and <i>Load</i> buttons."),
            ]
        )
        tabs = w.Tab(children=[self._tab(tab) for tab in SETTING_TABS] + [sweep, files])
        for i, title in enumerate(TABS):
            tabs.set_title(i, title)
        return tabs

    def _layout(self, backbone: Any) -> Any:
        w = _w()
        c, thumbs = self.controls.widgets, self.controls.thumbs
        pickers = []
        for which in ("content", "style"):
            frame = w.Box(
                [thumbs[which]],
                layout=w.Layout(
                    height="132px", width="190px", align_items="center", justify_content="center"
                ),
            )
            pickers.append(
                w.VBox(
                    [frame, c[which], c[which + "_upload"]],
                    layout=w.Layout(width="200px", align_items="center"),
                )
            )
        header = w.HTML(
            "<b>Style-transfer explorer</b> · backbone "
            f"<code title='{html.escape(backbone.description, quote=True)}'>"
            f"{html.escape(backbone.name)}</code>"
        )
        left = w.VBox([w.HBox(pickers), self.tabs], layout=w.Layout(width="500px"))
        right = w.VBox(
            [
                w.HBox([self.run_button, self.stop_button]),
                w.HBox([self.progress]),
                self.status,
                self.message_html,
                w.HBox([self.preview]),
                self.curve,
            ],
            layout=w.Layout(min_width="320px", padding="0 0 0 12px"),
        )
        gallery_head = w.HBox(
            [w.HTML("<b>Gallery</b> — every finished run, side by side"), self.clear_button],
            layout=w.Layout(justify_content="space-between", width="100%"),
        )
        return w.VBox([header, w.HBox([left, right]), gallery_head, self.gallery_box])

    # ---------------------------------------------------------------------------------------------
    # What the lab tells
    # ---------------------------------------------------------------------------------------------

    def message(self, kind: str, text: str) -> None:
        self.message_html.value = (
            f'<div style="color:{COLOURS.get(kind, "#333")};'
            f'max-width:420px">{ICONS.get(kind, "")}'
            f"{html.escape(text)}</div>"
        )

    def image(self, which: str, key: str, image: Any, options: list) -> None:
        dropdown = self.controls.widgets[which]
        with self.controls.quiet():
            if tuple(dropdown.options) != tuple(options):
                dropdown.options = options
            dropdown.value = key
        self.controls.thumbs[which].value = thumbnail_png(image)

    def busy(self, busy: bool) -> None:
        self.run_button.disabled = busy
        self.sweep_button.disabled = busy
        self.stop_button.disabled = not busy

    def run_started(self, job: Any, prefix: str) -> None:
        self.last_draw = 0.0
        self.progress.max = max(int(job.config.steps), 1)
        self.progress.value = 0
        self.progress.bar_style = ""
        self.status.value = f"{html.escape(prefix)}starting: loading images, building the graph…"

    def run_step(self, p: Any, live: dict) -> None:
        self.progress.value = min(p.step, self.progress.max)
        self.status.value = (
            f"{html.escape(live.get('prefix', ''))}step {p.step}/{p.steps} · "
            f"{p.elapsed:.1f} s · about {p.seconds_left:.0f} s left · "
            f"loss {fmt(p.losses.get('total'))}"
        )
        now = time.perf_counter()
        if now - self.last_draw >= DRAW_EVERY or p.step >= p.steps:
            self.last_draw = now
            self._show(to_png_bytes(p.image()), loss_curve_svg(live["history"], live["steps"]))

    def _show(self, png: bytes, svg: str | None = None) -> None:
        self.preview.value = png
        self.preview.layout.display = None
        if svg is not None:
            self.curve.value = svg
            self.curve.layout.display = None

    def run_failed(self) -> None:
        self.progress.bar_style = "danger"

    def run_finished(self, entry: Entry, prefix: str) -> None:
        r = entry.result
        self.progress.value = min(r.steps, self.progress.max)
        self.progress.bar_style = (
            "success" if r.stop_reason in ("finished", "converged") else "warning"
        )
        curve = (
            loss_curve_svg(r.history, title=f"run #{entry.number}")
            if r.history.get("total")
            else None
        )
        self._show(to_png_bytes(r.image), curve)
        self.status.value = (
            f"{html.escape(prefix)}run #{entry.number}: {r.steps} steps in "
            f"{r.seconds:.1f} s · best loss {fmt(r.best_loss)}"
        )

    def entry_added(self, entry: Entry) -> None:
        w = _w()
        image = w.Image(value=thumbnail_png(entry.image, 180), format="png", width="180")
        text = w.HTML(card_html(entry), layout=w.Layout(width="190px"))
        load = w.Button(description="Load", icon="upload", layout=w.Layout(width="90px"))
        save = w.Button(description="Save", icon="save", layout=w.Layout(width="90px"))
        tooltip(load, "Put this run's settings back on the controls.")
        tooltip(save, "Save this run as PNG + JSON settings.")
        load.on_click(self.guard(lambda _: self.actions.load(entry), "Loading the run"))
        save.on_click(self.guard(lambda _: self.actions.save(entry), "Saving the run"))
        box = w.VBox(
            [image, text, w.HBox([load, save])],
            layout=w.Layout(
                border="1px solid #ccc",
                padding="4px",
                margin="4px",
                width="204px",
                align_items="center",
            ),
        )
        self.cards[entry.number] = Card(self._with_class(box, "nst-card"), image, text, load, save)
        self.gallery_box.children = tuple(self.gallery_box.children) + (box,)

    def gallery_cleared(self) -> None:
        self.cards.clear()
        self.gallery_box.children = ()
