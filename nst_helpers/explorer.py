"""The hyperparameter explorer: an ipywidgets lab for style-transfer settings.

:class:`Explorer` puts every setting of a run on a control: the content and style images (a bundled
sample or an upload), the content, style and total-variation weights on logarithmic sliders, the
optimiser and its learning rate, the number of steps, the image size, the starting image, the style
layers with their weights, the content layer and the random seed. *Run* starts a run in the
background, so the notebook stays responsive and *Stop* ends it early, keeping the best image so far;
the preview image, the loss curve and a progress bar update every few steps. Each finished run joins
a gallery that shows runs side by side with their settings, final losses and time. *Sweep* runs a
small grid of settings (by default the study of the course's original paper: style weight 1e-1,
1e-2 and 1e-3 with learning rate 2 and 4), and any run can be saved as a PNG plus a JSON file of its
settings, then loaded back into the controls.

It uses only widgets that exist in both ipywidgets 7.7 (Google Colab) and 8 (JupyterLab 4), and
draws the loss curve as a small inline SVG in an HTML widget, so it needs no ipympl.

Everything the buttons do is also a method, so scripts and tests can drive it without a browser::

    ex = Explorer(quick=True)             # tiny images and few steps
    ex.controls["style_weight"].value = 1e-3
    entry = ex.run(block=True)            # or ex.run_button.click() and ex.wait()
    ex.gallery[-1].result.image.shape
    ex.save()                             # outputs/explorer/nst_001.png and .json

Importing this module does not start TensorFlow; creating an :class:`Explorer` does.
"""

import html
import io
import json
import math
import pathlib
import threading
import time
import traceback
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np

from .config import PRESETS, StyleConfig, preset as make_preset
from .errors import NSTError
from .images import as_uint8, load_image, to_png_bytes, write_new
from . import samples

#: The original paper's study (style weight x learning rate), the default sweep. Each entry starts
#: from the ``seed`` preset; the sweep's own size and step count apply unless an entry sets them.
SEED_STUDY = tuple(
    {"preset": "seed", "style_weight": sw, "learning_rate": lr}
    for sw in (1e-1, 1e-2, 1e-3)
    for lr in (2.0, 4.0)
)

#: Longest side kept of an uploaded image (runs shrink it further to the "size" control).
MAX_KEEP = 1024
#: What a normalised upload holds: the file name, its bytes, its MIME type and its size in bytes.
Upload = namedtuple("Upload", "name content type size")


# --------------------------------------------------------------------------------------------------
# Uploads, pictures and small helpers (no widgets, no TensorFlow)
# --------------------------------------------------------------------------------------------------


def normalize_upload(value):
    """The files in a ``FileUpload.value`` as a list of :data:`Upload`, whichever ipywidgets made it.

    ipywidgets 7 gives a dict ``{name: {"metadata": {...}, "content": bytes}}``; ipywidgets 8 a
    tuple of dicts with ``name``, ``type``, ``size`` and ``content`` (a ``memoryview``). Nothing
    uploaded (``None``, ``{}``, ``()``) gives ``[]``.
    """
    if value is None:
        return []
    if isinstance(value, dict):  # ipywidgets 7
        items = []
        for key, item in value.items():
            if not isinstance(item, dict) or "content" not in item:
                raise NSTError("unrecognised upload: each file needs its 'content'.")
            meta = item.get("metadata") or {}
            items.append({**meta, "name": meta.get("name", key), "content": item["content"]})
    elif isinstance(value, (list, tuple)):  # ipywidgets 8
        items = list(value)
    else:
        raise NSTError(f"unrecognised upload value of type {type(value).__name__}.")
    files = []
    for item in items:
        if not isinstance(item, dict) or "content" not in item:
            raise NSTError("unrecognised upload: each file needs its 'content'.")
        content = item["content"]
        content = content.tobytes() if isinstance(content, memoryview) else bytes(content)
        files.append(Upload(
            name=str(item.get("name") or "upload"),
            content=content,
            type=str(item.get("type") or ""),
            size=int(item["size"]) if item.get("size") is not None else len(content),
        ))
    return files


def thumbnail_png(image, side=128):
    """PNG bytes of ``image`` shrunk to at most ``side`` pixels on its longest side."""
    from PIL import Image

    img = Image.fromarray(as_uint8(image))
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


_CURVES = (("total", "#222222"), ("content", "#1f77b4"), ("style", "#d62728"), ("tv", "#2ca02c"))


def loss_curve_svg(history, steps=None, width=320, height=190, title=None):
    """A small log-scale plot of the losses as an SVG string (for an HTML widget; no matplotlib).

    ``history`` maps ``total``, ``content``, ``style`` and ``tv`` to lists of values; ``steps``
    gives the step of each value (default 1, 2, 3 …). Losses that stay at zero are left out.
    """
    left, right, top, bottom = 46, 8, 18 if title else 8, 26
    pw, ph = width - left - right, height - top - bottom
    series = []
    for name, colour in _CURVES:
        values = np.asarray(history.get(name) or [], dtype=np.float64)
        x = np.arange(1, values.size + 1) if steps is None else np.asarray(steps, np.float64)[: values.size]
        ok = np.isfinite(values) & (values > 0)
        if ok.any():
            series.append((name, colour, x[ok], np.log10(values[ok])))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" style="font:10px sans-serif;background:#fff">']
    if title:
        out.append(f'<text x="{left + pw / 2}" y="12" text-anchor="middle">{html.escape(title)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    if not series:
        out.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" '
                   'fill="#666">no losses yet</text></svg>')
        return "".join(out)
    xs = np.concatenate([s[2] for s in series])
    ys = np.concatenate([s[3] for s in series])
    x0, x1 = float(xs.min()), float(xs.max())
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = math.floor(float(ys.min())), math.ceil(float(ys.max()))
    if y1 <= y0:
        y1 = y0 + 1

    def px(x):
        return left + (x - x0) / (x1 - x0) * pw

    def py(y):
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    every = max(1, math.ceil((y1 - y0) / 5))
    for d in range(y0, y1 + 1, every):  # decades
        y = py(d)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">1e{d}</text>')
    for x in (x0, x1):
        out.append(f'<text x="{px(x):.1f}" y="{top + ph + 12}" text-anchor="middle">{x:.0f}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 3}" text-anchor="middle" fill="#666">'
               "step (losses weighted, log scale)</text>")
    for i, (name, colour, x, y) in enumerate(series):
        points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(x, y))
        if len(x) == 1:
            out.append(f'<circle cx="{px(x[0]):.1f}" cy="{py(y[0]):.1f}" r="2.5" fill="{colour}"/>')
        else:
            sw = 1.8 if name == "total" else 1.2
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{sw}"/>')
        lx = left + pw - 62
        ly = top + 11 + 12 * i
        out.append(f'<line x1="{lx}" x2="{lx + 14}" y1="{ly - 3}" y2="{ly - 3}" stroke="{colour}" '
                   'stroke-width="2"/>')
        out.append(f'<text x="{lx + 18}" y="{ly}">{name}</text>')
    out.append("</svg>")
    return "".join(out)


def _fmt(x):
    """A number in few characters: 1e-3, 0.5, 2, 1e3, 8.31e3."""
    if x is None:
        return "–"
    if not isinstance(x, float):
        return str(x)
    text = f"{x:.3g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{int(exp)}"
    return text


def _source_label(key):
    kind, _, name = str(key).partition(":")
    return name if kind in ("sample", "upload", "image") else str(key)


def next_free_name(folder, stem="nst", suffixes=(".png", ".json")):
    """``folder/stem_NNN`` with the smallest ``NNN`` for which no file with any suffix exists."""
    folder = pathlib.Path(folder).expanduser()
    n = 1
    while any((folder / f"{stem}_{n:03d}{s}").exists() for s in suffixes):
        n += 1
    return folder / f"{stem}_{n:03d}"


_SHORT = {"content_weight": "content", "style_weight": "style", "tv_weight": "TV",
          "learning_rate": "lr", "max_side": "px", "content_layers": "content layer",
          "style_layers": "style layers", "style_layer_weights": "layer weights",
          "preserve_color": "colour", "normalization": "losses"}


def differences(entries):
    """For each entry, its settings that are not the same in all ``entries``, in one short line."""
    dicts = [e.config.to_dict() for e in entries]
    keys = [k for k in dicts[0] if len({json.dumps(d[k], sort_keys=True) for d in dicts}) > 1]
    out = []
    for d in dicts:
        parts = []
        for k in keys:
            v = d[k]
            if isinstance(v, (list, tuple)):
                v = ",".join(str(x).replace("_conv", ".") if isinstance(x, str) else _fmt(float(x))
                             for x in v)
            parts.append(f"{_SHORT.get(k, k)} {_fmt(v) if isinstance(v, float) else v}")
        out.append(" · ".join(parts))
    return out


# --------------------------------------------------------------------------------------------------
# Gallery entries
# --------------------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One finished run in the gallery."""

    number: int
    result: object  # nst_helpers.optimize.StyleResult
    content: str  # "sample:chelsea", "upload:cat.jpg" or "image:…"
    style: str
    note: str = ""
    widget: object = field(default=None, repr=False)

    @property
    def image(self):
        return self.result.image

    @property
    def config(self):
        return self.result.config

    @property
    def final_losses(self):
        return {k: (v[-1] if v else None) for k, v in self.result.history.items()}

    def settings_line(self):
        """The settings that tell runs apart, in one short line."""
        c = self.config
        parts = [f"content {_fmt(c.content_weight)}", f"style {_fmt(c.style_weight)}"]
        if c.tv_weight:
            parts.append(f"TV {_fmt(c.tv_weight)}")
        parts.append(f"Adam lr {_fmt(c.learning_rate)}" if c.optimizer == "adam" else "L-BFGS")
        parts.append(f"init {c.init}" + (f" (seed {c.seed})" if c.init != "content" else ""))
        if c.content_layers != ("block5_conv2",):
            parts.append("content layer " + ",".join(l.replace("_conv", ".") for l in c.content_layers))
        if tuple(c.style_layers) != tuple(StyleConfig().style_layers) or c.style_layer_weights:
            parts.append("style layers " + ",".join(l.replace("_conv", ".") for l in c.style_layers))
        if c.normalization != "seed":
            parts.append(f"{c.normalization} losses")
        if c.pooling != "max":
            parts.append(f"{c.pooling} pooling")
        if c.preserve_color:
            parts.append(f"colour: {c.preserve_color}")
        if c.precision != "float32":
            parts.append(c.precision)
        return " · ".join(parts)

    def summary(self):
        """A plain-text description: images, settings, losses, time."""
        r = self.result
        h, w = r.image.shape[:2]
        loss = self.final_losses
        stop = "" if r.stop_reason == "finished" else f" ({r.stop_reason})"
        return (
            f"#{self.number} {_source_label(self.content)} × {_source_label(self.style)}: "
            f"{w}x{h} px, {r.steps} steps{stop}, {r.seconds:.1f} s; {self.settings_line()}; "
            f"loss {_fmt(loss['total'])} (content {_fmt(loss['content'])}, "
            f"style {_fmt(loss['style'])})"
        )

    def card_html(self):
        r = self.result
        h, w = r.image.shape[:2]
        loss = self.final_losses
        stop = "" if r.stop_reason == "finished" else f" · <b>{html.escape(r.stop_reason)}</b>"
        note = f" · <i>{html.escape(self.note.split(':')[0])}</i>" if self.note else ""
        return (
            '<div style="font-size:11px;line-height:1.35">'
            f"<b>#{self.number}</b> {html.escape(_source_label(self.content))} × "
            f"{html.escape(_source_label(self.style))}{note}<br>"
            f"{html.escape(self.settings_line())}<br>"
            f"{w}×{h} px · {r.steps} steps · {r.seconds:.1f} s{stop}<br>"
            f"loss <b>{_fmt(loss['total'])}</b> = content {_fmt(loss['content'])} + "
            f"style {_fmt(loss['style'])}"
            + (f" + TV {_fmt(loss['tv'])}" if loss.get("tv") else "")
            + "</div>"
        )

    def to_json(self):
        """A JSON-ready record of the run: its settings, images, losses, time and backbone."""
        r = self.result
        h, w = r.image.shape[:2]
        return {
            "format": "nst-explorer/1",
            "run": self.number,
            "note": self.note,
            "content": self.content,
            "style": self.style,
            "backbone": r.backbone,
            "size": [w, h],
            "steps": r.steps,
            "seconds": round(r.seconds, 3),
            "stop_reason": r.stop_reason,
            "best_loss": r.best_loss,
            "best_step": r.best_step,
            "final_losses": self.final_losses,
            "settings": r.config.to_dict(),
        }


# --------------------------------------------------------------------------------------------------
# The explorer
# --------------------------------------------------------------------------------------------------


def _w():
    import ipywidgets

    return ipywidgets


def _tooltip(widget, text):
    """Set a hover text on ``widget`` in ipywidgets 7 (description_tooltip) and 8 (tooltip)."""
    for trait in ("tooltip", "description_tooltip"):
        if widget.has_trait(trait):
            setattr(widget, trait, text)
            return widget
    return widget


_HELP = {
    "preset": "Fill every control from a named preset: seed (the original paper), gatys (the 2016 "
              "paper, L-BFGS) or fast (L-BFGS, quick on a CPU).",
    "content_weight": "How strongly the result must keep the content image's shapes.",
    "style_weight": "How strongly the result must match the style image's textures (Gram "
                    "matrices). Only its ratio to the content weight matters.",
    "tv": "Add a total-variation loss, which smooths the image and removes speckle noise.",
    "tv_weight": "Weight of the total-variation (smoothness) loss; with the presets' weights it takes "
                 "about 1e3 to 1e4 to remove speckle.",
    "preserve_color": "Keep the content image's colours: luminance-only transfer or a histogram "
                      "match of the style image (Gatys et al. 2017).",
    "optimizer": "Adam takes small steps along the gradient; L-BFGS uses curvature and needs far "
                 "fewer steps.",
    "learning_rate": "Adam's step size in pixel values (0..255). Too large and the loss explodes.",
    "steps": "How many optimisation steps (for L-BFGS, loss evaluations).",
    "max_side": "Longest side of the images in pixels. Time grows with the number of pixels.",
    "init": "Where the optimisation starts: the content image, random noise, or noise with the "
            "style image's colours.",
    "seed": "Random seed of the noise start; the same seed gives the same picture.",
    "precision": "The network's arithmetic. bfloat16 is about twice as fast on CPUs with AMX or "
                 "AVX512-BF16 and on recent GPUs (slower elsewhere); L-BFGS then paints slightly "
                 "different strokes.",
    "preview_every": "Update the preview, the loss curve and the progress bar every this many steps.",
    "content_layer": "Where the content is compared. Deeper layers keep the layout but let details "
                     "change.",
    "normalization": "How losses are scaled: 'seed' (means, as the original paper) or 'paper' "
                     "(Gatys et al. 2016). The weights that work differ by orders of magnitude.",
    "pooling": "VGG's pooling: max (as trained) or average (Gatys et al. found it a little smoother).",
    "sweep_grid": "One JSON object per line; each is one run. Keys are settings (style_weight, "
                  "learning_rate, …) and optionally 'preset'.",
    "sweep_size": "Longest side of the images in the sweep, unless a line sets max_side.",
    "sweep_steps": "Steps of each run of the sweep, unless a line sets steps.",
    "folder": "Where Save writes the PNG and JSON files (new numbered names, never overwriting).",
}


class Explorer:
    """An interactive lab for style-transfer hyperparameters (see the module docstring).

    Args:
        content, style: the starting images: a sample name (see :func:`nst_helpers.samples.list_samples`),
            a path, bytes or an array.
        preset: the preset whose values fill the controls first (``"fast"``, ``"seed"``, ``"gatys"``).
        quick: tiny defaults (64 px, 5 steps, previews every step, 3-step sweeps) for tests and CI.
        folder: where *Save* writes files.
        sweep: the default sweep grid, a list of dicts of settings (default :data:`SEED_STUDY`).
        backbone: the backbone to use (default ``"auto"``, which honours ``NST_BACKBONE``).
    """

    def __init__(self, content="chelsea", style="starry_night", *, preset="fast", quick=False,
                 folder="outputs/explorer", sweep=None, backbone=None):
        from .backbone import load_backbone, resolve_name

        self.quick = bool(quick)
        self.backbone_spec = resolve_name(backbone)
        self.backbone = load_backbone(self.backbone_spec, verbose=False)
        self.layers = list(self.backbone.layers)
        self.gallery = []
        self.messages = []  # (kind, text), newest last
        self.last_error = None  # traceback text of the last unexpected failure
        self.images = {}  # "content"/"style" -> uint8 array
        self.sources = {}  # "content"/"style" -> "sample:chelsea", "upload:cat.jpg", ...
        self._uploads = {"content": {}, "style": {}}
        self._sample_cache = {}
        self._extra = {}  # settings without a control (beta_1, beta_2, epsilon, trainable)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._live = {"steps": [], "history": {}}
        self._last_draw = 0.0
        self._counter = 0
        self.running = False
        self._build(folder, sweep)
        self.set(preset=preset)
        if self.quick:
            self.set(max_side=64, steps=5)
            self.controls["preview_every"].value = 1
            self.controls["sweep_size"].value = 64
            self.controls["sweep_steps"].value = 3
        problems = []
        for which, source, fallback in (("content", content, "chelsea"), ("style", style, "swirls")):
            if not self.set_image(which, source):  # keep the message, use a sample instead
                problems.append(self.message)
                self.set_image(which, fallback)
        if problems:
            self._say("error", " ".join(problems))
        else:
            self._say("info", "Choose images and settings, then press Run.")

    # ---------------------------------------------------------------------------------------------
    # Building the interface
    # ---------------------------------------------------------------------------------------------

    def _build(self, folder, sweep):
        w = _w()
        desc = {"description_width": "110px"}
        toggles = {"description_width": "110px", "button_width": "96px"}
        wide = w.Layout(width="400px")
        c = {}
        c["preset"] = w.Dropdown(options=list(PRESETS), value="fast", description="preset",
                                 style=desc, layout=w.Layout(width="260px"))
        c["content_weight"] = w.FloatLogSlider(value=1e3, base=10, min=-3, max=6, step=0.1,
                                               description="content weight", style=desc,
                                               layout=wide, continuous_update=False)
        c["style_weight"] = w.FloatLogSlider(value=1e-2, base=10, min=-5, max=5, step=0.1,
                                             description="style weight", style=desc, layout=wide,
                                             continuous_update=False)
        c["tv"] = w.Checkbox(value=False, description="smooth (total variation)", indent=False,
                             layout=w.Layout(width="220px"))
        # On VGG19 with the presets' weights, TV starts to matter from about 1e3 (notebook 07).
        c["tv_weight"] = w.FloatLogSlider(value=1e3, base=10, min=-4, max=6, step=0.1,
                                          description="TV weight", style=desc, layout=wide,
                                          continuous_update=False, disabled=True)
        c["preserve_color"] = w.ToggleButtons(options=[("off", "off"), ("luminance", "luminance"),
                                                       ("histogram", "histogram")],
                                              value="off", description="keep colours", style=toggles)
        c["optimizer"] = w.ToggleButtons(options=[("Adam", "adam"), ("L-BFGS", "lbfgs")],
                                         value="lbfgs", description="optimizer", style=toggles)
        c["learning_rate"] = w.FloatLogSlider(value=2.0, base=10, min=-1, max=2, step=0.05,
                                              description="learning rate", style=desc, layout=wide,
                                              continuous_update=False)
        c["steps"] = w.IntSlider(value=150, min=1, max=10000, description="steps", style=desc,
                                 layout=wide, continuous_update=False)
        c["max_side"] = w.IntSlider(value=256, min=32, max=MAX_KEEP, step=32, description="image size",
                                    style=desc, layout=wide, continuous_update=False)
        c["init"] = w.ToggleButtons(options=["content", "noise", "style"], value="content",
                                    description="start from", style=toggles)
        c["precision"] = w.ToggleButtons(options=["float32", "bfloat16"], value="float32",
                                         description="precision", style=toggles)
        c["seed"] = w.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=desc,
                                     layout=w.Layout(width="200px"))
        c["preview_every"] = w.BoundedIntText(value=10, min=1, max=10000, description="preview every",
                                              style=desc, layout=w.Layout(width="200px"))
        c["content_layer"] = w.Dropdown(options=self.layers, value="block5_conv2",
                                        description="content layer", style=desc,
                                        layout=w.Layout(width="280px"))
        c["normalization"] = w.ToggleButtons(options=["seed", "paper"], value="seed",
                                             description="loss scaling", style=toggles)
        c["pooling"] = w.ToggleButtons(options=["max", "avg"], value="max", description="pooling",
                                       style=toggles)
        grid = sweep if sweep is not None else SEED_STUDY
        c["sweep_grid"] = w.Textarea(value="\n".join(json.dumps(g, separators=(",", ":"))
                                                      for g in grid),
                                     layout=w.Layout(width="470px", height="150px"))
        c["sweep_size"] = w.IntSlider(value=128, min=32, max=MAX_KEEP, step=32, description="sweep size",
                                      style=desc, layout=wide, continuous_update=False)
        c["sweep_steps"] = w.IntSlider(value=100, min=1, max=10000, description="sweep steps",
                                       style=desc, layout=wide, continuous_update=False)
        c["folder"] = w.Text(value=str(folder), description="save to folder", style=desc,
                             layout=w.Layout(width="400px"))
        for key, text in _HELP.items():
            _tooltip(c[key], text)

        # Images: a sample or an upload, with a thumbnail.
        self.thumbs, pickers = {}, []
        for which in ("content", "style"):
            c[which] = w.Dropdown(options=self._source_options(which), description=which,
                                  layout=w.Layout(width="190px"),
                                  style={"description_width": "50px"})
            c[which + "_upload"] = w.FileUpload(accept="image/*", multiple=False,
                                                description=f"Upload {which}",
                                                layout=w.Layout(width="190px"))
            _tooltip(c[which], f"A bundled sample as the {which} image, or one you uploaded.")
            _tooltip(c[which + "_upload"], f"Upload a PNG or JPEG as the {which} image.")
            self.thumbs[which] = w.Image(format="png")
            self.thumbs[which].add_class(f"nst-{which}-thumb")
            frame = w.Box([self.thumbs[which]],
                          layout=w.Layout(height="132px", width="190px", align_items="center",
                                          justify_content="center"))
            pickers.append(w.VBox([frame, c[which], c[which + "_upload"]],
                                  layout=w.Layout(width="200px", align_items="center")))
            c[which].observe(self._guarded(self._on_source(which), f"Choosing the {which}"),
                             names="value")
            c[which + "_upload"].observe(
                self._guarded(self._on_upload(which), f"The {which} upload"), names="value")
        c["load_upload"] = w.FileUpload(accept=".json,.png", multiple=False,
                                        description="Load settings", layout=w.Layout(width="190px"))
        _tooltip(c["load_upload"], "Load a saved run's JSON (or its PNG) back into the controls.")
        c["load_upload"].observe(self._guarded(self._on_load_upload, "Loading the settings"),
                                 names="value")
        self.controls = c

        # Style layers: one row per block, a checkbox and a relative weight per layer.
        self.layer_boxes = {}
        rows = []
        for block in range(1, 6):
            cells = [w.HTML(f"<b>block {block}</b>", layout=w.Layout(width="55px"))]
            for name in (l for l in self.layers if l.startswith(f"block{block}_")):
                box = w.Checkbox(value=False, description=name.split("_")[1], indent=False,
                                 layout=w.Layout(width="62px"))
                weight = w.BoundedFloatText(value=1.0, min=0.0, max=1e6, step=0.1,
                                            layout=w.Layout(width="52px"))
                _tooltip(box, f"Use {name} for the style loss.")
                _tooltip(weight, f"Relative weight of {name}; the weights are scaled to sum to 1.")
                self.layer_boxes[name] = (box, weight)
                cells += [box, weight]
            rows.append(w.HBox(cells))

        # Buttons, progress, preview.
        self.run_button = w.Button(description="Run", icon="play", button_style="primary",
                                   layout=w.Layout(width="90px"))
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger",
                                    disabled=True, layout=w.Layout(width="90px"))
        self.sweep_button = w.Button(description="Sweep", icon="th", layout=w.Layout(width="90px"))
        self.save_button = w.Button(description="Save latest", icon="save",
                                    layout=w.Layout(width="120px"))
        self.clear_button = w.Button(description="Clear gallery", icon="trash",
                                     layout=w.Layout(width="130px"))
        for b, cls, text in (
            (self.run_button, "nst-run", "Run with the current settings (in the background)."),
            (self.stop_button, "nst-stop", "Stop the run; the best image so far is kept."),
            (self.sweep_button, "nst-sweep", "Run every line of the sweep grid into the gallery."),
            (self.save_button, "nst-save", "Save the latest run as PNG + JSON settings."),
            (self.clear_button, "nst-clear", "Remove all runs from the gallery."),
        ):
            b.add_class(cls)
            _tooltip(b, text)
        self.run_button.on_click(self._guarded(lambda _: self.run(), "Run"))
        self.stop_button.on_click(self._guarded(lambda _: self.stop(), "Stop"))
        self.sweep_button.on_click(self._guarded(lambda _: self.sweep(), "Sweep"))
        self.save_button.on_click(self._guarded(lambda _: self.save(), "Saving"))
        self.clear_button.on_click(self._guarded(lambda _: self.clear_gallery(), "Clearing"))
        self.progress = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="300px"))
        self.status = w.HTML("")
        self.message_html = w.HTML("")
        self.message_html.add_class("nst-message")
        self.preview = w.Image(format="png", width="256")
        self.preview.add_class("nst-preview")
        self.preview.layout.display = "none"
        self.curve = w.HTML("")
        self.curve.add_class("nst-curve")
        self.curve.layout.display = "none"
        self.gallery_box = w.HBox([], layout=w.Layout(flex_flow="row wrap", width="100%"))
        self.gallery_box.add_class("nst-gallery")

        c["preset"].observe(self._guarded(lambda ch: self.set(preset=ch["new"]), "The preset"),
                            names="value")
        c["tv"].observe(lambda ch: setattr(c["tv_weight"], "disabled", not ch["new"]), names="value")
        c["optimizer"].observe(
            lambda ch: setattr(c["learning_rate"], "disabled", ch["new"] != "adam"), names="value")

        tabs = w.Tab(children=[
            w.VBox([c["preset"], c["content_weight"], c["style_weight"], c["tv"], c["tv_weight"],
                    c["preserve_color"]]),
            w.VBox([c["optimizer"], c["learning_rate"], c["steps"], c["max_side"], c["init"],
                    w.HBox([c["seed"], c["preview_every"]]), c["precision"]]),
            w.VBox([c["content_layer"], w.HTML("<b>Style layers</b> (tick to use; numbers are "
                                               "relative weights)")] + rows
                   + [c["normalization"], c["pooling"]]),
            w.VBox([w.HTML("<b>Grid</b>: one run per line, starting from the current controls (or "
                           "from the line's <code>\"preset\"</code>) with the line's settings "
                           "changed."),
                    c["sweep_grid"], c["sweep_size"], c["sweep_steps"], self.sweep_button]),
            w.VBox([c["folder"], w.HBox([self.save_button, c["load_upload"]]),
                    w.HTML("Each gallery card has its own <i>Save</i> and <i>Load</i> buttons.")]),
        ])
        for i, title in enumerate(("Weights", "Optimiser", "Layers", "Sweep", "Save / load")):
            tabs.set_title(i, title)
        self.tabs = tabs

        header = w.HTML(
            "<b>Style-transfer explorer</b> · backbone "
            f"<code title='{html.escape(self.backbone.description, quote=True)}'>"
            f"{html.escape(self.backbone.name)}</code>"
        )
        left = w.VBox([w.HBox(pickers), tabs], layout=w.Layout(width="500px"))
        right = w.VBox([
            w.HBox([self.run_button, self.stop_button]),
            w.HBox([self.progress]), self.status, self.message_html,
            w.HBox([self.preview]), self.curve,
        ], layout=w.Layout(min_width="320px", padding="0 0 0 12px"))
        gallery_head = w.HBox([w.HTML("<b>Gallery</b> — every finished run, side by side"),
                               self.clear_button],
                              layout=w.Layout(justify_content="space-between", width="100%"))
        self.widget = w.VBox([header, w.HBox([left, right]), gallery_head, self.gallery_box])
        self.widget.add_class("nst-explorer")

    def _ipython_display_(self):
        """Show the interface. The plain-text form (what a saved notebook shows where widgets do not
        render, e.g. on GitHub) is one line instead of the long repr of the widget tree."""
        from IPython.display import display

        bundle = None
        if hasattr(self.widget, "_repr_mimebundle_"):  # ipywidgets 8
            bundle = self.widget._repr_mimebundle_()
        if not bundle:  # ipywidgets 7
            bundle = {"application/vnd.jupyter.widget-view+json": {
                "version_major": 2, "version_minor": 0, "model_id": self.widget._model_id}}
        bundle = dict(bundle)
        bundle["text/plain"] = repr(self)
        display(bundle, raw=True)

    def __repr__(self):
        return (f"<Explorer: backbone {self.backbone.name}, {len(self.gallery)} run"
                f"{'s' if len(self.gallery) != 1 else ''} in the gallery; run the notebook to see "
                "the controls>")

    def _source_options(self, which):
        names = samples.list_samples()
        keys = names["content"] + names["style"] if which == "content" else names["style"] + \
            names["content"] + names["paintings"]
        opts = [(name.replace("_", " "), f"sample:{name}") for name in keys]
        opts += [(f"⬆ {name}", f"upload:{name}") for name in self._uploads[which]]
        return opts

    # ---------------------------------------------------------------------------------------------
    # Messages
    # ---------------------------------------------------------------------------------------------

    @property
    def message(self):
        """The latest message shown in the interface, as plain text."""
        return self.messages[-1][1] if self.messages else ""

    def _guarded(self, action, what):
        """``action`` as a widget handler: whatever it raises ends in a message in the widget
        (``what`` failed: the error), with the traceback kept in ``last_error``, never escaping
        into the browser's log where nobody sees it."""
        def handler(*args):
            try:
                return action(*args)
            except Exception as err:  # a handler must never fail silently
                self.last_error = traceback.format_exc()
                text = str(err) if isinstance(err, NSTError) else f"{type(err).__name__}: {err}"
                self._say("error", f"{what} failed: {text}")
                return None
        return handler

    def _say(self, kind, text):
        self.messages.append((kind, text))
        del self.messages[:-100]
        colour = {"error": "#b00020", "warning": "#9a6700", "ok": "#1a7f37"}.get(kind, "#333")
        icon = {"error": "✖ ", "warning": "⚠ ", "ok": "✔ "}.get(kind, "")
        self.message_html.value = (f'<div style="color:{colour};max-width:420px">'
                                   f"{icon}{html.escape(text)}</div>")

    # ---------------------------------------------------------------------------------------------
    # Images
    # ---------------------------------------------------------------------------------------------

    def _on_source(self, which):
        def handler(change):
            if getattr(self, "_quiet", False) or change["new"] is None:
                return
            self._select(which, change["new"])
        return handler

    def _select(self, which, key):
        kind, _, name = key.partition(":")
        try:
            if kind == "sample":
                if name not in self._sample_cache:
                    self._sample_cache[name] = samples.load_sample(name)
                image = self._sample_cache[name]
            else:
                image = self._uploads[which][name]
        except (NSTError, KeyError) as err:
            self._say("error", f"Could not load the {which} image {name}: {err}")
            return False
        self.images[which] = image
        self.sources[which] = key
        self.thumbs[which].value = thumbnail_png(image)
        return True

    def set_image(self, which, source, name=None):
        """Use ``source`` as the ``"content"`` or ``"style"`` image.

        ``source`` is a sample name, or anything :func:`nst_helpers.images.load_image` reads (a path,
        bytes, an array), then listed under ``name``. Returns True, or False with a message.
        """
        if which not in ("content", "style"):
            raise NSTError(f"which must be 'content' or 'style', not {which!r}.")
        valid = sum(samples.list_samples().values(), [])
        if isinstance(source, str) and source in valid and name is None:
            key = f"sample:{source}"
        else:
            label = name or (pathlib.Path(source).name if isinstance(source, (str, pathlib.Path))
                             else f"your {which} image")
            try:
                image = load_image(source, max_side=MAX_KEEP, name=label)
            except NSTError as err:
                self._say("error", f"The {which} image was not changed: {err}")
                return False
            self._uploads[which][label] = image
            key = f"upload:{label}"
        dropdown = self.controls[which]
        self._quiet = True
        try:
            dropdown.options = self._source_options(which)
            dropdown.value = key
        finally:
            self._quiet = False
        return self._select(which, key)

    def _on_upload(self, which):
        def handler(change):
            self.use_upload(which, change["new"])
        return handler

    def use_upload(self, which, value):
        """Take the image of a ``FileUpload.value`` (ipywidgets 7 or 8) as the ``which`` image.

        A file that is not an image, or is too small, leaves the image as it was and shows why.
        Returns True when the image was taken.
        """
        try:
            files = normalize_upload(value)
        except NSTError as err:
            self._say("error", f"The {which} upload was not understood: {err}")
            return False
        if not files:
            return False
        upload = files[-1]
        if self.set_image(which, upload.content, name=upload.name):
            h, w = self.images[which].shape[:2]
            self._say("ok", f"Using {upload.name} ({w}x{h} px) as the {which} image.")
            return True
        return False

    # ---------------------------------------------------------------------------------------------
    # Settings
    # ---------------------------------------------------------------------------------------------

    def settings(self, **changes):
        """The settings on the controls, as a dict of :class:`StyleConfig` fields, plus ``changes``."""
        c = self.controls
        checked = [name for name, (box, _) in self.layer_boxes.items() if box.value]
        weights = [float(self.layer_boxes[name][1].value) for name in checked]
        if not weights or len(set(weights)) == 1:
            layer_weights = None
        elif sum(weights) <= 0:
            raise NSTError("the weights of the ticked style layers are all zero; give one a weight.")
        else:
            layer_weights = tuple(x / sum(weights) for x in weights)
        out = dict(
            content_layers=(c["content_layer"].value,),
            style_layers=tuple(checked),
            style_layer_weights=layer_weights,
            content_weight=float(c["content_weight"].value),
            style_weight=float(c["style_weight"].value),
            tv_weight=float(c["tv_weight"].value) if c["tv"].value else 0.0,
            normalization=c["normalization"].value,
            optimizer=c["optimizer"].value,
            learning_rate=float(c["learning_rate"].value),
            steps=int(c["steps"].value),
            init=c["init"].value,
            seed=int(c["seed"].value),
            max_side=int(c["max_side"].value),
            pooling=c["pooling"].value,
            precision=c["precision"].value,
            preserve_color=None if c["preserve_color"].value == "off" else c["preserve_color"].value,
            backbone=self.backbone_spec,
        )
        out.update(self._extra)
        out.update(changes)
        return out

    def config(self, **changes):
        """The :class:`StyleConfig` of the controls with ``changes``; NSTError if a value is bad."""
        changes = dict(changes)
        name = changes.pop("preset", None)
        settings = self.settings()
        if name is not None:  # a preset, then the current images' size and the changes
            base = make_preset(name).to_dict()
            base.update(max_side=settings["max_side"], steps=settings["steps"],
                        backbone=self.backbone_spec)
            settings = base
        for key in ("learning_rate", "content_weight", "style_weight", "tv_weight"):
            if isinstance(changes.get(key), int) and not isinstance(changes[key], bool):
                changes[key] = float(changes[key])
        settings.update(changes)
        if settings.get("max_side") == "auto":
            from .images import default_max_side

            settings["max_side"] = default_max_side()
        if not settings["style_layers"]:
            raise NSTError("tick at least one style layer (Layers tab).")
        self.backbone.check_layers(list(settings["content_layers"]) + list(settings["style_layers"]))
        return StyleConfig().replace(**settings)

    def set(self, preset=None, **settings):
        """Move the controls: to a ``preset`` first, then to ``settings`` (StyleConfig fields).

        Returns a list of warnings (also shown in the interface) about settings that could not be
        shown exactly, e.g. style layers this backbone lacks.
        """
        c = self.controls
        warnings = []
        if preset is not None:
            values = make_preset(preset).to_dict()
            if c["preset"].value != preset:
                c["preset"].value = preset  # calls set(preset=…) again through its observer
                return self.set(**settings) if settings else warnings
            values.pop("backbone", None)
            if values["max_side"] in ("auto", None):  # presets leave the size as it is
                values.pop("max_side")
            settings = {**values, **settings}
        # Check the values first (unknown names, bad values), so that nothing moves on an error.
        StyleConfig().replace(**{k: v for k, v in settings.items() if k != "backbone"})
        for key in ("beta_1", "beta_2", "epsilon", "trainable"):
            if key in settings:
                self._extra[key] = settings[key]
        for key in ("content_weight", "style_weight", "learning_rate"):
            if key in settings:
                c[key].value = float(settings[key])
        if "tv_weight" in settings:
            tv = float(settings["tv_weight"] or 0.0)
            c["tv"].value = tv > 0
            if tv > 0:
                c["tv_weight"].value = tv
        for key in ("normalization", "optimizer", "init", "pooling", "precision"):
            if key in settings:
                c[key].value = settings[key]
        if "preserve_color" in settings:
            c["preserve_color"].value = settings["preserve_color"] or "off"
        if "steps" in settings:
            c["steps"].value = int(settings["steps"])
        if "seed" in settings:
            c["seed"].value = int(settings["seed"])
        if "max_side" in settings:
            side = settings["max_side"]
            if side == "auto":
                from .images import default_max_side

                side = default_max_side()
            c["max_side"].value = int(side) if side else MAX_KEEP
        if settings.get("content_layers"):
            layers = settings["content_layers"]
            layers = [layers] if isinstance(layers, str) else list(layers)
            ok = [l for l in layers if l in self.layers]
            if ok:
                c["content_layer"].value = ok[0]
            if len(layers) > 1 or not ok:
                warnings.append(f"the explorer uses one content layer; kept {c['content_layer'].value} "
                                f"of {', '.join(layers)}.")
        if "style_layers" in settings:
            layers = settings["style_layers"]
            layers = [layers] if isinstance(layers, str) else list(layers or [])
            weights = settings.get("style_layer_weights")
            weights = list(weights) if weights else [1.0] * len(layers)
            missing = [l for l in layers if l not in self.layers]
            if missing:
                warnings.append(f"backbone {self.backbone.name} has no {', '.join(missing)}; "
                                "those style layers were left out.")
            total = sum(weights) or 1.0
            scale = len(weights) / total  # show weights relative to 1; their sum is folded below
            for name, (box, weight) in self.layer_boxes.items():
                box.value = name in layers
                weight.value = round(weights[layers.index(name)] * scale, 6) if name in layers else 1.0
            if settings.get("style_layer_weights") and abs(total - 1.0) > 1e-6:
                # The explorer scales the layer weights to sum to 1; keep the same loss.
                c["style_weight"].value = float(settings.get("style_weight",
                                                             c["style_weight"].value)) * total
        for text in warnings:
            self._say("warning", text)
        return warnings

    # ---------------------------------------------------------------------------------------------
    # Running
    # ---------------------------------------------------------------------------------------------

    def run(self, block=False, **changes):
        """Run with the settings on the controls (``changes`` apply to this run only).

        With ``block=False`` (what the Run button does) the run goes on in a background thread and
        this returns at once; :meth:`wait` waits for it. With ``block=True`` it returns the gallery
        :class:`Entry` (or None when the run could not start or failed; see :attr:`message`).
        """
        try:
            cfg = self.config(**changes)
        except NSTError as err:
            self._say("error", f"Cannot run: {err}")
            return None
        return self._start([(cfg, "")], block, single=True)

    def sweep(self, grid=None, block=False, **changes):
        """Run each entry of ``grid`` (a list of dicts of settings; default the Sweep tab's lines).

        Every entry starts from the current controls, or from its ``"preset"`` if it names one; the
        sweep's size and steps (Sweep tab) apply unless the entry or ``changes`` set ``max_side`` or
        ``steps``. Returns the new gallery entries when ``block=True``.
        """
        try:
            if grid is None:
                grid = self._parse_grid(self.controls["sweep_grid"].value)
            common = {"max_side": int(self.controls["sweep_size"].value),
                      "steps": int(self.controls["sweep_steps"].value), **changes}
            jobs = []
            for i, item in enumerate(grid, start=1):
                if not isinstance(item, dict):
                    raise NSTError(f"sweep entry {i} is not a dict of settings.")
                note = ", ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}"
                                 for k, v in item.items())
                try:
                    jobs.append((self.config(**{**common, **item}), f"sweep {i}/{len(grid)}: {note}"))
                except NSTError as err:
                    raise NSTError(f"sweep entry {i} ({note}): {err}") from None
            if not jobs:
                raise NSTError("the sweep grid is empty.")
        except NSTError as err:
            self._say("error", f"Cannot sweep: {err}")
            return None
        return self._start(jobs, block, single=False)

    @staticmethod
    def _parse_grid(text):
        text = text.strip()
        if not text:
            return []
        try:
            if text.startswith("["):
                grid = json.loads(text)
            else:
                grid = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as err:
            raise NSTError(f"the grid is not valid JSON ({err.msg} at line {err.lineno}); write one "
                           '{"setting": value, …} per line.') from None
        return grid

    def _start(self, jobs, block, single):
        with self._lock:
            if self.running:
                self._say("warning", "A run is already going: wait for it to finish or press Stop.")
                return None
            self.running = True
        self._stop.clear()
        self._busy(True)
        if block:
            entries = self._work(jobs)
            return (entries[-1] if entries else None) if single else entries
        self._thread = threading.Thread(target=self._work, args=(jobs,), daemon=True,
                                        name="nst-explorer-run")
        self._thread.start()
        return None

    def _busy(self, busy):
        self.run_button.disabled = busy
        self.sweep_button.disabled = busy
        self.stop_button.disabled = not busy

    def _work(self, jobs):
        entries = []
        try:
            for i, (cfg, note) in enumerate(jobs):
                if self._stop.is_set():
                    break
                prefix = f"{note.split(':')[0]} · " if len(jobs) > 1 else ""
                entry = self._one(cfg, note, prefix)
                if entry is not None:
                    entries.append(entry)
            if len(jobs) > 1 and entries:
                skipped = len(jobs) - len(entries)
                self._say("ok" if not skipped else "warning",
                          f"Sweep done: {len(entries)} of {len(jobs)} runs joined the gallery"
                          + (" (stopped early)." if self._stop.is_set() else "."))
        finally:
            with self._lock:
                self.running = False
            self._busy(False)
        return entries

    def _one(self, cfg, note, prefix):
        from .optimize import stylize

        content, style = self.images.get("content"), self.images.get("style")
        self._live = {"steps": [], "history": {}, "prefix": prefix}
        self._last_draw = 0.0
        self.progress.max = max(int(cfg.steps), 1)
        self.progress.value = 0
        self.progress.bar_style = ""
        self.status.value = f"{html.escape(prefix)}starting: loading images, building the graph…"
        self._say("info", f"Running {note or 'with the current settings'}…")
        every = max(1, int(self.controls["preview_every"].value))
        try:
            result = stylize(content, style, cfg, callback=self._on_progress, callback_every=every,
                             should_stop=self._stop.is_set, progress=False, verbose=False)
        except NSTError as err:
            self._say("error", f"The run failed: {err}")
            self.progress.bar_style = "danger"
            return None
        except Exception as err:  # keep the interface alive and say what happened
            self.last_error = traceback.format_exc()
            self._say("error", f"The run failed: {type(err).__name__}: {err}")
            self.progress.bar_style = "danger"
            return None
        self._counter += 1
        entry = Entry(self._counter, result, self.sources.get("content", "image:content"),
                      self.sources.get("style", "image:style"), note)
        self._show_final(entry)
        self._add_card(entry)
        return entry

    def _on_progress(self, p):
        """Called by :func:`stylize` every few steps, from the thread of the run."""
        try:
            live = self._live
            live["steps"].append(p.step)
            for k, v in p.losses.items():
                live["history"].setdefault(k, []).append(v)
            self.progress.value = min(p.step, self.progress.max)
            self.status.value = (
                f"{html.escape(live.get('prefix', ''))}step {p.step}/{p.steps} · "
                f"{p.elapsed:.1f} s · about {p.seconds_left:.0f} s left · "
                f"loss {_fmt(p.losses.get('total'))}"
            )
            now = time.perf_counter()
            if now - self._last_draw >= 0.25 or p.step >= p.steps:
                self._last_draw = now
                self.preview.value = to_png_bytes(p.image())
                self.preview.layout.display = None
                self.curve.value = loss_curve_svg(live["history"], live["steps"])
                self.curve.layout.display = None
        except Exception:  # a drawing problem must never end the run
            self.last_error = traceback.format_exc()

    def _show_final(self, entry):
        r = entry.result
        self.progress.value = min(r.steps, self.progress.max)
        self.progress.bar_style = "success" if r.stop_reason in ("finished", "converged") else "warning"
        self.preview.value = to_png_bytes(r.image)
        self.preview.layout.display = None
        if r.history.get("total"):
            self.curve.value = loss_curve_svg(r.history, title=f"run #{entry.number}")
            self.curve.layout.display = None
        loss = entry.final_losses["total"]
        prefix = self._live.get("prefix", "")
        self.status.value = (f"{html.escape(prefix)}run #{entry.number}: {r.steps} steps in "
                             f"{r.seconds:.1f} s · best loss {_fmt(r.best_loss)}")
        if r.stop_reason == "stopped":
            self._say("warning", f"Run #{entry.number} stopped at step {r.steps} of {r.config.steps}; "
                                 "the best image so far joined the gallery.")
        elif r.stop_reason == "diverged":
            self._say("warning", f"Run #{entry.number}: {r.message}")
        elif r.stop_reason == "interrupted":
            self._say("warning", f"Run #{entry.number} was interrupted; kept the best image so far.")
        else:
            self._say("ok", f"Run #{entry.number} finished: {r.steps} steps in {r.seconds:.1f} s, "
                            f"final loss {_fmt(loss)}.")

    def stop(self):
        """Ask the running run (or sweep) to stop at its next preview; its best image is kept."""
        if not self.running:
            self._say("info", "Nothing is running.")
            return False
        self._stop.set()
        self._say("info", "Stopping at the next preview step…")
        return True

    def wait(self, timeout=None):
        """Wait for a background run or sweep to end; return the latest gallery entry (or None)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return None
        return self.gallery[-1] if self.gallery else None

    # ---------------------------------------------------------------------------------------------
    # Gallery, saving and loading
    # ---------------------------------------------------------------------------------------------

    def _add_card(self, entry):
        w = _w()
        image = w.Image(value=thumbnail_png(entry.image, 180), format="png", width="180")
        text = w.HTML(entry.card_html(), layout=w.Layout(width="190px"))
        load = w.Button(description="Load", icon="upload", layout=w.Layout(width="90px"))
        save = w.Button(description="Save", icon="save", layout=w.Layout(width="90px"))
        _tooltip(load, "Put this run's settings back on the controls.")
        _tooltip(save, "Save this run as PNG + JSON settings.")
        load.on_click(self._guarded(lambda _: self.load(entry), "Loading the run"))
        save.on_click(self._guarded(lambda _: self.save(entry), "Saving the run"))
        card = w.VBox([image, text, w.HBox([load, save])],
                      layout=w.Layout(border="1px solid #ccc", padding="4px", margin="4px",
                                      width="204px", align_items="center"))
        card.add_class("nst-card")
        entry.widget = card
        self.gallery.append(entry)
        self.gallery_box.children = tuple(self.gallery_box.children) + (card,)

    def clear_gallery(self):
        """Remove every run from the gallery (saved files stay)."""
        self.gallery.clear()
        self.gallery_box.children = ()
        self._say("info", "The gallery is empty.")

    def _entry(self, entry):
        if entry is None:
            if not self.gallery:
                raise NSTError("the gallery is empty; run something first.")
            return self.gallery[-1]
        if isinstance(entry, Entry):
            return entry
        for e in self.gallery:
            if e.number == entry:
                return e
        raise NSTError(f"there is no run #{entry} in the gallery.")

    def save(self, entry=None, folder=None):
        """Save a gallery entry (default the latest; an :class:`Entry` or its number) as
        ``folder/nst_NNN.png`` (with its settings and backbone inside) and ``nst_NNN.json``.

        Never overwrites: ``NNN`` is the first number free for both files. Returns the two paths,
        or None with a message.
        """
        try:
            entry = self._entry(entry)
            folder = pathlib.Path(folder or self.controls["folder"].value or ".").expanduser()
            folder.mkdir(parents=True, exist_ok=True)
            stem = next_free_name(folder)
            png = entry.result.save(stem.with_suffix(".png"))
            record = entry.to_json()
            record["image"] = png.name
            js = stem.with_suffix(".json")
            from .optimize import _finite_json  # (a run was made, so TensorFlow is loaded)

            write_new(js, (json.dumps(_finite_json(record), indent=2, allow_nan=False)
                           + "\n").encode("utf-8"))
        except (NSTError, OSError) as err:
            self._say("error", f"Not saved: {err}")
            return None
        self._say("ok", f"Saved run #{entry.number} as {png} and {js.name}.")
        return png, js

    def load(self, source, name=None):
        """Put saved settings back on the controls.

        ``source`` is a gallery :class:`Entry` or number, a path to a saved ``.json`` or ``.png``,
        their bytes (with ``name``), or a dict (a saved record or plain settings). Sample images
        named in the record are selected too. Returns True, or False with a message.
        """
        try:
            record = self._read_record(source, name)
            settings = record.get("settings", record)
            if not isinstance(settings, dict):
                raise NSTError(f"{name or 'the file'}: \"settings\" holds a "
                               f"{type(settings).__name__}, not an object of settings "
                               '(such as {"steps": 100}).')
            settings = dict(settings)
            settings.pop("backbone", None)
            for key in ("content", "style"):
                src = record.get(key)
                if isinstance(src, str) and src.startswith("sample:"):
                    self.set_image(key, src.split(":", 1)[1])
            unknown = set(settings) - set(StyleConfig.__dataclass_fields__)
            for key in unknown:
                settings.pop(key)
            warnings = self.set(**settings)
        except NSTError as err:
            self._say("error", f"Not loaded: {err}")
            return False
        except Exception as err:  # whatever the file holds, the widget says so
            self.last_error = traceback.format_exc()
            self._say("error", f"Not loaded: {name or 'the settings'} could not be used "
                               f"({type(err).__name__}: {err}).")
            return False
        what = f"run #{record['run']}" if "run" in record else "the settings"
        extra = f" (backbone of that run: {record['backbone']})" if record.get("backbone") not in (
            None, self.backbone.name) else ""
        self._say("warning" if warnings else "ok",
                  f"Loaded {what} into the controls{extra}." + (" " + " ".join(warnings)
                                                                if warnings else ""))
        return True

    def _read_record(self, source, name):
        if isinstance(source, (int, Entry)) and not isinstance(source, bool):
            return self._entry(source).to_json()
        if isinstance(source, dict):
            return source
        if isinstance(source, (str, pathlib.Path)):
            path = pathlib.Path(source).expanduser()
            if not path.is_file():
                raise NSTError(f"{path}: no such file.")
            data, name = path.read_bytes(), path.name
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            raise NSTError(f"cannot load settings from a {type(source).__name__}.")
        label = name or "the file"
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            from PIL import Image, UnidentifiedImageError

            try:
                info = Image.open(io.BytesIO(data)).info
            except (OSError, SyntaxError, ValueError, UnidentifiedImageError):
                raise NSTError(f"{label}: the PNG is damaged or truncated; save the run "
                               "again.") from None
            if "nst_config" not in info:
                raise NSTError(f"{label}: this PNG holds no style-transfer settings.")
            try:
                record = {"settings": json.loads(info["nst_config"])}
            except (TypeError, json.JSONDecodeError):
                raise NSTError(f"{label}: the settings stored in this PNG are damaged.") from None
            if "backbone" in info:
                record["backbone"] = info["backbone"]
            return record
        try:
            record = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise NSTError(f"{label}: not a JSON settings file or a PNG saved by the explorer.") \
                from None
        if not isinstance(record, dict):
            raise NSTError(f"{label}: expected a JSON object of settings.")
        return record

    def _on_load_upload(self, change):
        try:
            files = normalize_upload(change["new"])
        except NSTError as err:
            self._say("error", f"Not loaded: {err}")
            return
        if files:
            self.load(files[-1].content, name=files[-1].name)

    # ---------------------------------------------------------------------------------------------
    # Reading it from code
    # ---------------------------------------------------------------------------------------------

    def table(self):
        """The gallery as plain text, one line per run."""
        return "\n".join(e.summary() for e in self.gallery)

    def figure(self, entries=None, cols=None, size=2.6):
        """Gallery entries (default all) side by side as a matplotlib figure, each titled with the
        settings that differ between them."""
        import matplotlib.pyplot as plt

        entries = list(self.gallery if entries is None else entries)
        if not entries:
            raise NSTError("the gallery is empty; run something first.")
        cols = cols or min(len(entries), 3)
        rows = -(-len(entries) // cols)
        h, w = entries[0].image.shape[:2]
        fig, axes = plt.subplots(rows, cols, squeeze=False,
                                 figsize=(size * cols, (size * h / w + 0.35) * rows))
        titles = differences(entries)
        for i, ax in enumerate(axes.flat):
            ax.axis("off")
            if i < len(entries):
                ax.imshow(entries[i].image)
                ax.set_title(f"#{entries[i].number} {titles[i]}".strip(), fontsize=8)
        fig.tight_layout(pad=0.3)
        return fig

    def sheet(self, entries=None, cols=None, size=2.2, quality=85):
        """Like :meth:`figure`, as a compact JPEG image for notebooks (small saved outputs)."""
        import matplotlib.pyplot as plt
        from IPython.display import Image as IPythonImage

        fig = self.figure(entries, cols=cols, size=size)
        buf = io.BytesIO()
        try:
            fig.savefig(buf, format="jpeg", dpi=90, pil_kwargs={"quality": quality})
        finally:
            plt.close(fig)
        return IPythonImage(data=buf.getvalue(), format="jpeg")
