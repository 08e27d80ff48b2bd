"""The explorer's records: uploads, gallery entries, and their files (no widgets, no TensorFlow).

An upload arrives as ipywidgets 7 or 8 shapes it (:func:`normalize_upload`); a finished run
becomes an :class:`Entry`, which describes itself in one line, in a plain-text summary and as a
JSON record; :func:`write_entry` saves it as a PNG and a JSON file under a new number, and
:func:`read_record` reads any of those back (a path, bytes, a dict). :func:`parse_grid` reads a
sweep's grid from text; :func:`figure` and :func:`sheet` show gallery entries side by side.
"""

from __future__ import annotations

import io
import json
import pathlib
from collections import namedtuple
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..config import SETTINGS, StyleConfig
from ..errors import NSTError
from ..images import write_new

__all__ = [
    "MAX_UPLOAD_BYTES",
    "PNG_SIGNATURE",
    "Entry",
    "Upload",
    "differences",
    "figure",
    "fmt",
    "next_free_name",
    "normalize_upload",
    "parse_grid",
    "read_record",
    "record_settings",
    "sheet",
    "source_label",
    "upload_problem",
    "write_entry",
]

#: What a normalised upload holds: the file name, its bytes, its MIME type and its size in bytes.
Upload = namedtuple("Upload", "name content type size")
#: The largest file the explorer takes from an upload (20 MB); a larger one is refused with a
#: message. ``nst lab`` states it on its page and sizes its websocket messages to match.
MAX_UPLOAD_BYTES = 20_000_000
#: The first bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def normalize_upload(value: Any) -> list:
    """The files in a ``FileUpload.value`` as a list of :data:`Upload`, whichever ipywidgets made it.

    ipywidgets 7 gives a dict ``{name: {"metadata": {...}, "content": bytes}}``; ipywidgets 8 a
    tuple of dicts with ``name``, ``type``, ``size`` and ``content`` (a ``memoryview``).

    Args:
        value: the upload widget's value.

    Returns:
        One :data:`Upload` per file; nothing uploaded (``None``, ``{}``, ``()``) gives ``[]``.

    Raises:
        NSTError: a value of another shape, or a file without its ``content``.
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
    return [_upload(item) for item in items]


def upload_problem(upload: Upload) -> str | None:
    """Why ``upload`` is refused for its size (over :data:`MAX_UPLOAD_BYTES`), or ``None``.

    The larger of the size the browser declared and the bytes that arrived counts: a page that
    declares the size but sends no bytes (``nst lab``'s does, for a file over the limit) is
    refused as surely as one that sends them all.
    """
    size = max(int(upload.size or 0), len(upload.content))
    if size <= MAX_UPLOAD_BYTES:
        return None
    return (
        f"{upload.name} is {size / 1e6:.1f} MB, over the {MAX_UPLOAD_BYTES / 1e6:.0f} MB "
        "limit on uploads; save a smaller copy (the explorer uses at most 1024 px a side) "
        "and upload that."
    )


def _upload(item: Any) -> Upload:
    if not isinstance(item, dict) or "content" not in item:
        raise NSTError("unrecognised upload: each file needs its 'content'.")
    content = item["content"]
    content = content.tobytes() if isinstance(content, memoryview) else bytes(content)
    return Upload(
        name=str(item.get("name") or "upload"),
        content=content,
        type=str(item.get("type") or ""),
        size=int(item["size"]) if item.get("size") is not None else len(content),
    )


def fmt(x: Any) -> str:
    """A number in few characters: 1e-3, 0.5, 2, 1e3, 8.31e3 (``None`` as a dash)."""
    if x is None:
        return "–"
    if not isinstance(x, float):
        return str(x)
    text = f"{x:.3g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{int(exp)}"
    return text


def source_label(key: str) -> str:
    """``"sample:chelsea"`` -> ``"chelsea"``; ``"upload:cat.jpg"`` -> ``"cat.jpg"``."""
    kind, _, name = str(key).partition(":")
    return name if kind in ("sample", "upload", "image") else str(key)


def next_free_name(
    folder: str | pathlib.Path, stem: str = "nst", suffixes: tuple = (".png", ".json")
) -> pathlib.Path:
    """``folder/stem_NNN`` with the smallest ``NNN`` for which no file with any suffix exists."""
    folder = pathlib.Path(folder).expanduser()
    n = 1
    while any((folder / f"{stem}_{n:03d}{s}").exists() for s in suffixes):
        n += 1
    return folder / f"{stem}_{n:03d}"


def _layers(names: Any) -> str:
    return ",".join(
        str(x).replace("_conv", ".") if isinstance(x, str) else fmt(float(x)) for x in names
    )


def differences(entries: list) -> list:
    """For each entry, its settings that are not the same in all ``entries``, in one short line
    (each named by its ``short`` label in the settings table)."""
    dicts = [e.config.to_dict() for e in entries]
    keys = [k for k in dicts[0] if len({json.dumps(d[k], sort_keys=True) for d in dicts}) > 1]
    out = []
    for d in dicts:
        parts = []
        for k in keys:
            v = d[k]
            v = (
                _layers(v)
                if isinstance(v, (list, tuple))
                else fmt(v)
                if isinstance(v, float)
                else v
            )
            parts.append(f"{SETTINGS[k].short if k in SETTINGS else k} {v}")
        out.append(" · ".join(parts))
    return out


@dataclass
class Entry:
    """One finished run in the gallery.

    Args:
        number: its number in the gallery (``#1``, ``#2`` …).
        result: the run's :class:`nst_helpers.optimize.StyleResult`.
        content, style: where the images came from: ``"sample:chelsea"``, ``"upload:cat.jpg"``.
        note: what the run was (``"sweep 2/6: style_weight=0.01"``), or empty.
    """

    number: int
    result: Any
    content: str
    style: str
    note: str = ""

    @property
    def image(self) -> Any:
        """The run's best image (uint8 RGB)."""
        return self.result.image

    @property
    def config(self) -> StyleConfig:
        """The run's settings."""
        return self.result.config

    @property
    def final_losses(self) -> dict:
        """``{"total": …, "content": …, "style": …, "tv": …}`` at the last step."""
        return {k: (v[-1] if v else None) for k, v in self.result.history.items()}

    def settings_line(self) -> str:
        """The settings that tell runs apart, in one short line."""
        c = self.config
        parts = [f"content {fmt(c.content_weight)}", f"style {fmt(c.style_weight)}"]
        if c.tv_weight:
            parts.append(f"TV {fmt(c.tv_weight)}")
        parts.append(f"Adam lr {fmt(c.learning_rate)}" if c.optimizer == "adam" else "L-BFGS")
        parts.append(f"init {c.init}" + (f" (seed {c.seed})" if c.init != "content" else ""))
        if c.content_layers != StyleConfig().content_layers:
            parts.append("content layer " + _layers(c.content_layers))
        if tuple(c.style_layers) != StyleConfig().style_layers or c.style_layer_weights:
            parts.append("style layers " + _layers(c.style_layers))
        if c.normalization != "seed":
            parts.append(f"{c.normalization} losses")
        if c.pooling != "max":
            parts.append(f"{c.pooling} pooling")
        if c.preserve_color:
            parts.append(f"colour: {c.preserve_color}")
        if c.precision != "float32":
            parts.append(c.precision)
        return " · ".join(parts)

    def summary(self) -> str:
        """A plain-text description: images, settings, losses, time."""
        r = self.result
        h, w = r.image.shape[:2]
        loss = self.final_losses
        stop = "" if r.stop_reason == "finished" else f" ({r.stop_reason})"
        return (
            f"#{self.number} {source_label(self.content)} × {source_label(self.style)}: "
            f"{w}x{h} px, {r.steps} steps{stop}, {r.seconds:.1f} s; {self.settings_line()}; "
            f"loss {fmt(loss['total'])} (content {fmt(loss['content'])}, "
            f"style {fmt(loss['style'])})"
        )

    def to_json(self) -> dict:
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


def write_entry(entry: Entry, folder: str | pathlib.Path) -> tuple:
    """Save ``entry`` as ``folder/nst_NNN.png`` (its settings and backbone inside) and
    ``nst_NNN.json``, ``NNN`` the first number free for both files: never overwriting.

    Returns:
        The two paths ``(png, json)``.

    Raises:
        NSTError, OSError: the folder or a file could not be written.
    """
    # Lazy: loop imports TensorFlow, which importing the explorer must not (a run was made, so
    # TensorFlow is loaded by now).
    from ..loop import finite_json  # noqa: PLC0415

    folder = pathlib.Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    stem = next_free_name(folder)
    png = entry.result.save(stem.with_suffix(".png"))
    record = entry.to_json()
    record["image"] = png.name
    js = stem.with_suffix(".json")
    write_new(
        js, (json.dumps(finite_json(record), indent=2, allow_nan=False) + "\n").encode("utf-8")
    )
    return png, js


def read_record(source: Any, name: str | None = None) -> dict:
    """A saved run's record, from a dict, a path to a ``.json`` or ``.png``, or their bytes.

    Args:
        source: the record itself (a dict), a path, or bytes (with ``name`` for messages).
        name: the file's name, for messages.

    Returns:
        A dict; its ``"settings"`` holds the run's settings (a PNG gives only those and its
        ``"backbone"``).

    Raises:
        NSTError: no such file, or a file that holds no settings, in one line.
    """
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
    if data[:8] == PNG_SIGNATURE:
        return _png_record(data, label)
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NSTError(
            f"{label}: not a JSON settings file or a PNG saved by the explorer."
        ) from None
    if not isinstance(record, dict):
        raise NSTError(f"{label}: expected a JSON object of settings.")
    return record


def _png_record(data: bytes, label: str) -> dict:
    """The settings (and backbone) stored in a PNG that :func:`write_entry` wrote."""

    try:
        info = Image.open(io.BytesIO(data)).info
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError):
        raise NSTError(f"{label}: the PNG is damaged or truncated; save the run again.") from None
    if "nst_config" not in info:
        raise NSTError(f"{label}: this PNG holds no style-transfer settings.")
    try:
        record = {"settings": json.loads(info["nst_config"])}
    except (TypeError, json.JSONDecodeError):
        raise NSTError(f"{label}: the settings stored in this PNG are damaged.") from None
    if "backbone" in info:
        record["backbone"] = info["backbone"]
    return record


def record_settings(record: dict, name: str | None = None) -> dict:
    """The settings of ``record`` that a run takes: its ``"settings"`` (or the record itself),
    without the backbone and without names that are no setting (older or newer files).

    Raises:
        NSTError: ``"settings"`` is not an object.
    """
    settings = record.get("settings", record)
    if not isinstance(settings, dict):
        raise NSTError(
            f'{name or "the file"}: "settings" holds a {type(settings).__name__}, '
            'not an object of settings (such as {"steps": 100}).'
        )
    return {k: v for k, v in settings.items() if k in SETTINGS and k != "backbone"}


def parse_grid(text: str) -> list:
    """A sweep grid from text: one JSON object per line, or one JSON list.

    Raises:
        NSTError: the text is not valid JSON, with the line and how to write it.
    """
    text = text.strip()
    if text.startswith("["):
        return _json(text)
    return [
        _json(line, number)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]


def _json(text: str, line: int = 0) -> Any:
    """``text`` read as JSON; ``line``, the grid's line it stands on (0: it is the whole grid)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise NSTError(
            f"the grid is not valid JSON ({err.msg} at line {line or err.lineno}); "
            'write one {"setting": value, …} per line.'
        ) from None


def figure(entries: list, cols: int | None = None, size: float = 2.6) -> Any:
    """Gallery entries side by side as a matplotlib figure, each titled with the settings that
    differ between them (:func:`differences`).

    Args:
        entries: gallery entries.
        cols: panels per row (default: up to 3).
        size: inches per panel's width.

    Returns:
        The matplotlib figure.

    Raises:
        NSTError: no entries.
    """
    import matplotlib.pyplot as plt  # noqa: PLC0415 - lazy: pyplot takes about 0.4 s to import

    entries = list(entries)
    if not entries:
        raise NSTError("the gallery is empty; run something first.")
    cols = cols or min(len(entries), 3)
    rows = -(-len(entries) // cols)
    h, w = entries[0].image.shape[:2]
    fig, axes = plt.subplots(
        rows, cols, squeeze=False, figsize=(size * cols, (size * h / w + 0.35) * rows)
    )
    titles = differences(entries)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(entries):
            ax.imshow(entries[i].image)
            ax.set_title(f"#{entries[i].number} {titles[i]}".strip(), fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


def sheet(entries: list, cols: int | None = None, size: float = 2.2, quality: int = 85) -> Any:
    """Like :func:`figure`, as a compact JPEG image for notebooks (small saved outputs).

    Args:
        entries: gallery entries.
        cols: panels per row (default: up to 3).
        size: inches per panel's width.
        quality: the JPEG's quality, 1 to 95.

    Returns:
        An ``IPython.display.Image`` of the JPEG.
    """
    # Lazy: pyplot takes about 0.4 s to import, IPython 0.06 s; only notebooks show sheets.
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from IPython.display import Image as IPythonImage  # noqa: PLC0415

    fig = figure(entries, cols=cols, size=size)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="jpeg", dpi=90, pil_kwargs={"quality": quality})
    finally:
        plt.close(fig)
    return IPythonImage(data=buf.getvalue(), format="jpeg")
