"""The explorer's controls, made from the settings table of :mod:`nst_helpers.config`.

Every setting with a ``tab`` gets a control of its kind: toggle buttons for its ``choices``, a
logarithmic slider for a float with a ``log`` span, a slider for a whole number with a span, a
number box otherwise; its ``label`` describes it and its ``help`` is its hover text. A new row of
the table appears at the end of its tab with no change here; :data:`ORDER` only places the
settings and the explorer's own controls (preset, the smoothing switch, the preview interval)
that are already there. Two settings have controls of their own: the content layer (a list of the
backbone's layers) and the style layers (a grid of ticks and relative weights).

:meth:`Controls.read` gives the settings on the controls as a dict; :meth:`Controls.show` puts
settings on them.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from typing import Any

from ..config import PRESETS, SETTINGS, Setting
from ..errors import NSTError
from ..images import default_max_side
from .lab import MAX_KEEP, SEED_STUDY

__all__ = [
    "CONTROL_OF",
    "DESC",
    "HELP",
    "LAYER_GRID",
    "ORDER",
    "SWITCHES",
    "TABS",
    "Controls",
    "from_control",
    "make_control",
    "to_control",
    "tooltip",
]

#: The order of the controls on each settings tab; settings of a tab not named here follow.
ORDER = {
    "Weights": ("preset", "content_weight", "style_weight", "tv", "tv_weight", "preserve_color"),
    "Optimiser": (
        "optimizer",
        "learning_rate",
        "steps",
        "max_side",
        "init",
        "precision",
        "seed",
        "preview_every",
    ),
    "Layers": ("content_layer", "normalization", "pooling"),
}
#: The settings tabs: those of :data:`ORDER`, then any other that a row of the table names.
TABS = tuple(dict.fromkeys([*ORDER, *(row.tab for row in SETTINGS.values() if row.tab)]))
#: Settings whose control is not named after them.
CONTROL_OF = {"content_layers": "content_layer"}
#: Settings shown by the grid of style layers, not by a control each.
LAYER_GRID = ("style_layers", "style_layer_weights")
#: A weight that a checkbox switches on (0 when off), and the slider's value while it is off: on
#: VGG19 with the presets' weights, TV starts to matter from about 1e3 (notebook 07).
SWITCHES = {"tv_weight": ("tv", 1e3)}
#: Hover texts of the explorer's own controls (the settings' come from the table).
HELP = {
    "preset": "Fill every control from a named preset: seed (the original paper), gatys (the 2016 "
    "paper, L-BFGS) or fast (L-BFGS, quick on a CPU).",
    "tv": "Add a total-variation loss, which smooths the image and removes speckle noise.",
    "preview_every": "Update the preview, the loss curve and the progress bar every this many steps.",
    "sweep_grid": "One JSON object per line; each is one run. Keys are settings (style_weight, "
    "learning_rate, …) and optionally 'preset'.",
    "sweep_size": "Longest side of the images in the sweep, unless a line sets max_side.",
    "sweep_steps": "Steps of each run of the sweep, unless a line sets steps.",
    "folder": "Where Save writes the PNG and JSON files (new numbered names, never overwriting).",
}
DESC = {"description_width": "110px"}


def _w() -> Any:
    """The ``ipywidgets`` module, imported here: it is optional, and the lab runs without it."""
    import ipywidgets  # noqa: PLC0415 - lazy: optional (a lab without widgets runs without it)

    return ipywidgets


def tooltip(widget: Any, text: str) -> Any:
    """Set a hover text on ``widget`` in ipywidgets 7 (description_tooltip) and 8 (tooltip)."""
    for trait in ("tooltip", "description_tooltip"):
        if widget.has_trait(trait):
            setattr(widget, trait, text)
            return widget
    return widget


def _token(value: Any) -> Any:
    """A choice as a control holds it: ``None`` (no colour preservation) is ``"off"``."""
    return "off" if value is None else value


def to_control(row: Setting, value: Any) -> Any:
    """``value`` of the setting ``row`` as its control shows it."""
    if row.choices is not None:
        return _token(value)
    if value == "auto":  # the image size: the device's default
        return default_max_side()
    if value is None:  # the image size: as large as the control goes
        return row.span[1] if row.span else MAX_KEEP
    if float in row.kinds:
        return float(value)
    return int(value) if int in row.kinds else value


def from_control(row: Setting, value: Any) -> Any:
    """What the control of the setting ``row`` holds, as the setting's value."""
    if row.choices is not None:
        return None if value == "off" and None in row.choices else value
    if float in row.kinds:
        return float(value)
    return int(value) if int in row.kinds else value


def make_control(row: Setting, layers: list) -> Any:
    """The control of one setting, by its kind (see the module's text)."""
    w = _w()
    wide = w.Layout(width="400px")
    kinds = row.kinds
    common = dict(description=row.label, style=DESC)
    if row.name == "content_layers":
        return w.Dropdown(
            options=layers, value=row.default[0], layout=w.Layout(width="280px"), **common
        )
    if row.choices is not None:
        return w.ToggleButtons(
            options=[(row.title(v), _token(v)) for v in row.choices],
            value=_token(row.default),
            description=row.label,
            style={**DESC, "button_width": "96px"},
        )
    value = to_control(row, SWITCHES.get(row.name, (None, row.default))[1])
    if float in kinds and row.log:
        assert row.span is not None  # a log slider's setting has a span
        low, high = (math.log10(x) for x in row.span)
        return w.FloatLogSlider(
            value=value,
            base=10,
            min=low,
            max=high,
            step=row.step or 0.1,
            layout=wide,
            continuous_update=False,
            **common,
        )
    if int in kinds and row.span:
        return w.IntSlider(
            value=value,
            min=row.span[0],
            max=row.span[1],
            step=row.step or 1,
            layout=wide,
            continuous_update=False,
            **common,
        )
    if int in kinds:
        return w.BoundedIntText(
            value=value, min=0, max=2**31 - 1, layout=w.Layout(width="200px"), **common
        )
    if bool in kinds:
        return w.Checkbox(value=bool(value), indent=False, description=row.label)
    return (w.FloatText if float in kinds else w.Text)(value=value, layout=wide, **common)


class Controls:
    """The explorer's controls (see the module's text).

    Args:
        layers: the backbone's layers, for the content layer and the grid of style layers.
        backbone: the backbone's name, for messages.
        folder: where *Save* writes, at first.
        sweep: the sweep grid at first (default :data:`SEED_STUDY`).

    Attributes:
        widgets: ``{name: widget}`` of every control, in the order of the tabs.
        layer_boxes: ``{style layer: (checkbox, weight box)}``.
        layer_rows: the grid of style layers, one row of widgets per block.
        thumbs: ``{"content"/"style": image widget}``, the pictures above the image choosers.
        hidden: settings with no control (``beta_1`` …), as last set.
    """

    hidden: dict[str, Any]

    def __init__(
        self,
        layers: list,
        backbone: str = "the backbone",
        folder: str = "outputs/explorer",
        sweep: Any = None,
    ) -> None:
        self.layers = list(layers)
        self.backbone = backbone
        self.hidden = {}
        self._quiet = 0
        self.widgets = self._settings_tabs()
        self.widgets.update(self._own_controls(folder, SEED_STUDY if sweep is None else sweep))
        images, self.thumbs = self._image_controls()
        self.widgets.update(images)
        for key, text in HELP.items():
            tooltip(self.widgets[key], text)
        self.layer_boxes, self.layer_rows = self._layer_grid()
        c = self.widgets
        c["tv"].observe(
            lambda ch: setattr(c["tv_weight"], "disabled", not ch["new"]), names="value"
        )
        c["optimizer"].observe(
            lambda ch: setattr(c["learning_rate"], "disabled", ch["new"] != "adam"), names="value"
        )

    def _settings_tabs(self) -> dict:
        w = _w()
        made = {}
        for row in SETTINGS.values():
            if row.tab and row.name not in LAYER_GRID:
                made[CONTROL_OF.get(row.name, row.name)] = tooltip(
                    make_control(row, self.layers), row.help
                )
        made["preset"] = w.Dropdown(
            options=list(PRESETS),
            value="fast",
            description="preset",
            style=DESC,
            layout=w.Layout(width="260px"),
        )
        made["tv"] = w.Checkbox(
            value=False,
            description="smooth (total variation)",
            indent=False,
            layout=w.Layout(width="220px"),
        )
        made["tv_weight"].disabled = True
        made["preview_every"] = w.BoundedIntText(
            value=10,
            min=1,
            max=10000,
            description="preview every",
            style=DESC,
            layout=w.Layout(width="200px"),
        )
        return {name: made.pop(name) for name in self.order() if name in made}

    @staticmethod
    def order(tab: str | None = None) -> list:
        """The controls of the settings tabs (or of one ``tab``) in order: :data:`ORDER`, then the
        tab's other settings in the table's order."""
        names = []
        for name in TABS if tab is None else (tab,):
            placed = ORDER.get(name, ())
            rest = [
                CONTROL_OF.get(row.name, row.name)
                for row in SETTINGS.values()
                if row.tab == name and row.name not in LAYER_GRID
            ]
            names += list(placed) + [n for n in rest if n not in placed]
        return names

    @staticmethod
    def _own_controls(folder: str, sweep: Any) -> dict:
        w = _w()
        wide = w.Layout(width="400px")
        lines = "\n".join(json.dumps(g, separators=(",", ":")) for g in sweep)
        return {
            "sweep_grid": w.Textarea(value=lines, layout=w.Layout(width="470px", height="150px")),
            "sweep_size": w.IntSlider(
                value=128,
                min=32,
                max=MAX_KEEP,
                step=32,
                description="sweep size",
                style=DESC,
                layout=wide,
                continuous_update=False,
            ),
            "sweep_steps": w.IntSlider(
                value=100,
                min=1,
                max=10000,
                description="sweep steps",
                style=DESC,
                layout=wide,
                continuous_update=False,
            ),
            "folder": w.Text(
                value=str(folder), description="save to folder", style=DESC, layout=wide
            ),
        }

    @staticmethod
    def _image_controls() -> tuple:
        """The choosers and uploads of the two images, and the pictures above them."""
        w = _w()
        made, thumbs = {}, {}
        for which in ("content", "style"):
            made[which] = w.Dropdown(
                options=[],
                description=which,
                layout=w.Layout(width="190px"),
                style={"description_width": "50px"},
            )
            made[which + "_upload"] = w.FileUpload(
                accept="image/*",
                multiple=False,
                description=f"Upload {which}",
                layout=w.Layout(width="190px"),
            )
            tooltip(made[which], f"A bundled sample as the {which} image, or one you uploaded.")
            tooltip(made[which + "_upload"], f"Upload a PNG or JPEG as the {which} image.")
            thumbs[which] = w.Image(format="png")
            thumbs[which].add_class(f"nst-{which}-thumb")
        made["load_upload"] = w.FileUpload(
            accept=".json,.png",
            multiple=False,
            description="Load settings",
            layout=w.Layout(width="190px"),
        )
        tooltip(made["load_upload"], "Load a saved run's JSON (or its PNG) back into the controls.")
        return made, thumbs

    def _layer_grid(self) -> tuple:
        """One row per block: its name, then a checkbox and a relative weight per layer."""
        w = _w()
        boxes, rows = {}, []
        for block in range(1, 6):
            cells = [w.HTML(f"<b>block {block}</b>", layout=w.Layout(width="55px"))]
            for name in (n for n in self.layers if n.startswith(f"block{block}_")):
                box = w.Checkbox(
                    value=False,
                    description=name.split("_")[1],
                    indent=False,
                    layout=w.Layout(width="62px"),
                )
                weight = w.BoundedFloatText(
                    value=1.0, min=0.0, max=1e6, step=0.1, layout=w.Layout(width="52px")
                )
                tooltip(box, f"Use {name} for the style loss.")
                tooltip(weight, f"Relative weight of {name}; the weights are scaled to sum to 1.")
                boxes[name] = (box, weight)
                cells += [box, weight]
            rows.append(w.HBox(cells))
        return boxes, rows

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Within the block, the observers that :attr:`is_quiet` guards do nothing (a change
        made by the program, not by the user)."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    @property
    def is_quiet(self) -> bool:
        """Whether a :meth:`quiet` block is running."""
        return self._quiet > 0

    def read(self) -> dict:
        """The settings on the controls, as a dict of :class:`StyleConfig` fields (no backbone).

        Raises:
            NSTError: the ticked style layers' weights are all zero.
        """
        out: dict[str, Any] = {}
        for row in SETTINGS.values():
            name = CONTROL_OF.get(row.name, row.name)
            if row.name in SWITCHES:
                switch = self.widgets[SWITCHES[row.name][0]]
                out[row.name] = float(self.widgets[name].value) if switch.value else 0.0
            elif row.name == "content_layers":
                out[row.name] = (self.widgets[name].value,)
            elif name in self.widgets:
                out[row.name] = from_control(row, self.widgets[name].value)
        checked = [name for name, (box, _) in self.layer_boxes.items() if box.value]
        weights = [float(self.layer_boxes[name][1].value) for name in checked]
        out["style_layers"] = tuple(checked)
        out["style_layer_weights"] = None
        if weights and len(set(weights)) > 1:
            if sum(weights) <= 0:
                raise NSTError(
                    "the weights of the ticked style layers are all zero; give one a weight."
                )
            out["style_layer_weights"] = tuple(x / sum(weights) for x in weights)
        out.update(self.hidden)
        return out

    def show(self, values: dict) -> list:
        """Move the controls to ``values`` (checked :class:`StyleConfig` fields).

        Returns:
            Warnings about what could not be shown exactly: several content layers, or layers
            the backbone lacks.
        """
        warnings = []
        for key, value in values.items():
            row, name = SETTINGS[key], CONTROL_OF.get(key, key)
            if key in SWITCHES:
                self.widgets[SWITCHES[key][0]].value = bool(value)
                if value:
                    self.widgets[name].value = float(value)
            elif key == "content_layers":
                warnings += self._show_content_layers(value)
            elif name in self.widgets:
                self.widgets[name].value = to_control(row, value)
            elif key not in LAYER_GRID and key != "backbone":
                self.hidden[key] = value
        if "style_layers" in values:
            warnings += self._show_style_layers(values)
        return warnings

    def _show_content_layers(self, layers: Any) -> list:
        if not layers:
            return []
        layers = [layers] if isinstance(layers, str) else list(layers)
        dropdown = self.widgets["content_layer"]
        ok = [name for name in layers if name in self.layers]
        if ok:
            dropdown.value = ok[0]
        if len(layers) > 1 or not ok:
            return [
                f"the explorer uses one content layer; kept {dropdown.value} of "
                f"{', '.join(layers)}."
            ]
        return []

    def _show_style_layers(self, values: dict) -> list:
        """Tick the style layers and show their weights relative to 1; the weights' sum goes into
        the style weight, which keeps the same loss."""
        layers = values["style_layers"]
        layers = [layers] if isinstance(layers, str) else list(layers or [])
        weights = values.get("style_layer_weights")
        weights = list(weights) if weights else [1.0] * len(layers)
        missing = [name for name in layers if name not in self.layers]
        total = sum(weights) or 1.0
        scale = len(weights) / total
        for name, (box, weight) in self.layer_boxes.items():
            box.value = name in layers
            weight.value = round(weights[layers.index(name)] * scale, 6) if name in layers else 1.0
        if values.get("style_layer_weights") and abs(total - 1.0) > 1e-6:
            style = self.widgets["style_weight"]
            style.value = float(values.get("style_weight", style.value)) * total
        return (
            [
                f"backbone {self.backbone} has no {', '.join(missing)}; those style layers were "
                "left out."
            ]
            if missing
            else []
        )
