"""The explorer's front: :class:`Explorer`, a lab, its controls and its view as one object."""

from __future__ import annotations

from typing import Any

from ..errors import NSTError
from .controls import Controls
from .lab import Lab
from .records import Entry, normalize_upload, upload_problem
from .view import View

__all__ = ["Explorer"]


class Explorer:
    """An interactive lab for style-transfer hyperparameters (see :mod:`nst_helpers.explorer`).

    Args:
        content, style: the starting images: a sample name (see
            :func:`nst_helpers.samples.list_samples`), a path, bytes or an array.
        preset: the preset whose values fill the controls first (``"fast"``, ``"seed"``,
            ``"gatys"``).
        quick: tiny defaults (64 px, 5 steps, previews every step, 3-step sweeps) for tests and CI.
        folder: where *Save* writes files.
        sweep: the default sweep grid, a list of dicts of settings (default :data:`SEED_STUDY`).
        backbone: the backbone to use (default ``"auto"``, which honours ``NST_BACKBONE``).

    Attributes:
        lab: the :class:`~nst_helpers.explorer.lab.Lab`: images, gallery, runs and messages.
        panel: the :class:`~nst_helpers.explorer.controls.Controls`; ``controls`` is its
            ``{name: widget}``.
        view: the :class:`~nst_helpers.explorer.view.View`; ``widget`` is the whole interface.
    """

    def __init__(
        self,
        content: Any = "chelsea",
        style: Any = "starry_night",
        *,
        preset: str = "fast",
        quick: bool = False,
        folder: Any = "outputs/explorer",
        sweep: list | None = None,
        backbone: str | None = None,
    ) -> None:
        self.quick = bool(quick)
        self.lab = Lab(backbone)
        self.backbone, self.backbone_spec, self.layers = (
            self.lab.backbone,
            self.lab.backbone_spec,
            self.lab.layers,
        )
        self.panel = Controls(self.layers, self.backbone.name, folder, sweep)
        self.view = View(self.panel, self.backbone, self.lab.guarded, self)
        self.lab.listener = self.view
        v = self.view
        self.controls, self.layer_boxes, self.thumbs = (
            self.panel.widgets,
            self.panel.layer_boxes,
            self.panel.thumbs,
        )
        self.run_button, self.stop_button, self.sweep_button = (
            v.run_button,
            v.stop_button,
            v.sweep_button,
        )
        self.save_button, self.clear_button = v.save_button, v.clear_button
        self.progress, self.status, self.message_html = v.progress, v.status, v.message_html
        self.preview, self.curve, self.gallery_box = v.preview, v.curve, v.gallery_box
        self.tabs, self.widget = v.tabs, v.widget
        self._wire()
        self.set(preset=preset)
        if self.quick:
            self.set(max_side=64, steps=5)
            for key, value in (("preview_every", 1), ("sweep_size", 64), ("sweep_steps", 3)):
                self.controls[key].value = value
        self._first_images(content, style)

    def _first_images(self, content: Any, style: Any) -> None:
        """The starting images; one that cannot be read gives way to a sample, saying why."""
        problems = []
        for which, source, fallback in (
            ("content", content, "chelsea"),
            ("style", style, "swirls"),
        ):
            if not self.set_image(which, source):
                problems.append(self.message)
                self.set_image(which, fallback)
        if problems:
            self.lab.say("error", " ".join(problems))
        else:
            self.lab.say("info", "Choose images and settings, then press Run.")

    def _wire(self) -> None:
        """What each control and button does."""
        c, guard = self.controls, self.lab.guarded
        c["preset"].observe(guard(self._on_preset, "The preset"), names="value")
        for which in ("content", "style"):
            c[which].observe(guard(self._on_source(which), f"Choosing the {which}"), names="value")
            c[which + "_upload"].observe(
                guard(
                    lambda change, which=which: self.use_upload(which, change["new"]),
                    f"The {which} upload",
                ),
                names="value",
            )
        c["load_upload"].observe(guard(self._on_load_upload, "Loading the settings"), names="value")
        for button, method, what in (
            (self.run_button, "run", "Run"),
            (self.stop_button, "stop", "Stop"),
            (self.sweep_button, "sweep", "Sweep"),
            (self.save_button, "save", "Saving"),
            (self.clear_button, "clear_gallery", "Clearing"),
        ):
            # looked up at each click, so that a method replaced later is the one called
            button.on_click(guard(lambda _, method=method: getattr(self, method)(), what))

    def _on_preset(self, change: dict) -> None:
        if not self.panel.is_quiet:
            self.set(preset=change["new"])

    def _on_source(self, which: str) -> Any:
        def handler(change: dict) -> None:
            if not self.panel.is_quiet and change["new"] is not None:
                self.lab.select(which, change["new"])

        return handler

    def _on_load_upload(self, change: dict) -> None:
        try:
            files = normalize_upload(change["new"])
        except NSTError as err:
            self.lab.say("error", f"Not loaded: {err}")
            return
        problem = upload_problem(files[-1]) if files else None
        if problem:
            self.lab.say("error", f"Not loaded: {problem}")
        elif files:
            self.load(files[-1].content, name=files[-1].name)

    def _ipython_display_(self) -> None:
        """Show the interface. The plain-text form (what a saved notebook shows where widgets do
        not render, e.g. on GitHub) is one line instead of the long repr of the widget tree."""
        # Lazy: IPython calls this, so it is loaded then; elsewhere it costs 0.06 s to import.
        from IPython.display import display  # noqa: PLC0415

        bundle = None
        if hasattr(self.widget, "_repr_mimebundle_"):  # ipywidgets 8
            bundle = self.widget._repr_mimebundle_()
        if not bundle:  # ipywidgets 7
            bundle = {
                "application/vnd.jupyter.widget-view+json": {
                    "version_major": 2,
                    "version_minor": 0,
                    "model_id": self.widget._model_id,
                }
            }
        bundle = dict(bundle)
        bundle["text/plain"] = repr(self)
        display(bundle, raw=True)

    def __repr__(self) -> str:
        return (
            f"<Explorer: backbone {self.backbone.name}, {len(self.gallery)} run"
            f"{'s' if len(self.gallery) != 1 else ''} in the gallery; run the notebook to see "
            "the controls>"
        )

    # ---------------------------------------------------------------------------------------------
    # The lab's state
    # ---------------------------------------------------------------------------------------------

    @property
    def gallery(self) -> list:
        """The finished runs, as :class:`Entry` objects, oldest first."""
        return self.lab.gallery

    @property
    def messages(self) -> list:
        """``(kind, text)`` of the messages shown, newest last."""
        return self.lab.messages

    @property
    def message(self) -> str:
        """The latest message shown in the interface, as plain text."""
        return self.lab.message

    @property
    def last_error(self) -> str | None:
        """The traceback of the last unexpected failure, as text."""
        return self.lab.last_error

    @property
    def images(self) -> dict:
        """``{"content"/"style": uint8 array}``."""
        return self.lab.images

    @property
    def sources(self) -> dict:
        """``{"content"/"style": "sample:chelsea", "upload:cat.jpg", …}``."""
        return self.lab.sources

    @property
    def running(self) -> bool:
        """Whether a run or sweep is going on."""
        return self.lab.running

    # ---------------------------------------------------------------------------------------------
    # Images and settings
    # ---------------------------------------------------------------------------------------------

    def set_image(self, which: str, source: Any, name: str | None = None) -> bool:
        """Use ``source`` as the ``"content"`` or ``"style"`` image (see :meth:`Lab.set_image`)."""
        return self.lab.set_image(which, source, name)

    def use_upload(self, which: str, value: Any) -> bool:
        """Take the image of a ``FileUpload.value`` (ipywidgets 7 or 8) as the ``which`` image;
        a file that is not an image leaves the image as it was and says why."""
        return self.lab.use_upload(which, value)

    def settings(self, **changes: Any) -> dict:
        """The settings on the controls, as a dict of :class:`StyleConfig` fields, plus
        ``changes``."""
        return {**self.panel.read(), "backbone": self.backbone_spec, **changes}

    def config(self, **changes: Any) -> Any:
        """The :class:`StyleConfig` of the controls with ``changes`` (which may name a
        ``preset``); NSTError if a value is bad."""
        return self.lab.config(self.settings(), **changes)

    def set(self, preset: str | None = None, **settings: Any) -> list:
        """Move the controls: to a ``preset`` first, then to ``settings`` (StyleConfig fields).

        Returns:
            Warnings (also shown in the interface) about settings that could not be shown
            exactly, e.g. style layers this backbone lacks.

        Raises:
            NSTError: an unknown setting or a bad value; then nothing moves.
        """
        values = self.lab.values(preset, **settings)
        if preset is not None:
            with self.panel.quiet():
                self.controls["preset"].value = preset
        warnings = self.panel.show(values)
        for text in warnings:
            self.lab.say("warning", text)
        return warnings

    # ---------------------------------------------------------------------------------------------
    # Runs
    # ---------------------------------------------------------------------------------------------

    def _read(self, what: str) -> dict | None:
        try:
            return self.settings()
        except NSTError as err:
            self.lab.say("error", f"{what}: {err}")
            return None

    def run(self, block: bool = False, **changes: Any) -> Entry | None:
        """Run with the settings on the controls (``changes`` apply to this run only).

        With ``block=False`` (what the Run button does) the run goes on in a background thread
        and this returns at once; :meth:`wait` waits for it. With ``block=True`` it returns the
        gallery :class:`Entry` (or None when the run could not start or failed; see
        :attr:`message`).
        """
        settings = self._read("Cannot run")
        every = int(self.controls["preview_every"].value)
        return None if settings is None else self.lab.run(settings, block, every, **changes)

    def sweep(self, grid: list | None = None, block: bool = False, **changes: Any) -> Any:
        """Run each entry of ``grid`` (a list of dicts of settings; default the Sweep tab's lines).

        Every entry starts from the current controls, or from its ``"preset"`` if it names one;
        the sweep's size and steps (Sweep tab) apply unless the entry or ``changes`` set
        ``max_side`` or ``steps``. Returns the new gallery entries when ``block=True``.
        """
        settings = self._read("Cannot sweep")
        if settings is None:
            return None
        c = self.controls
        common = {
            "max_side": int(c["sweep_size"].value),
            "steps": int(c["sweep_steps"].value),
            **changes,
        }
        return self.lab.sweep(
            settings,
            c["sweep_grid"].value if grid is None else grid,
            common,
            block,
            int(c["preview_every"].value),
        )

    def stop(self) -> bool:
        """Ask the running run (or sweep) to stop at its next preview; its best image is kept."""
        return self.lab.stop()

    def wait(self, timeout: float | None = None) -> Entry | None:
        """Wait for a background run or sweep to end; return the latest gallery entry (or None)."""
        return self.lab.wait(timeout)

    # ---------------------------------------------------------------------------------------------
    # The gallery
    # ---------------------------------------------------------------------------------------------

    def clear_gallery(self) -> None:
        """Remove every run from the gallery (saved files stay)."""
        self.lab.clear_gallery()

    def save(self, entry: Any = None, folder: Any = None) -> tuple | None:
        """Save a gallery entry (default the latest; an :class:`Entry` or its number) as
        ``folder/nst_NNN.png`` (with its settings and backbone inside) and ``nst_NNN.json``.

        Never overwrites: ``NNN`` is the first number free for both files. Returns the two
        paths, or None with a message. ``folder`` defaults to the Save / load tab's.
        """
        return self.lab.save(entry, folder or self.controls["folder"].value or ".")

    def load(self, source: Any, name: str | None = None) -> bool:
        """Put saved settings back on the controls.

        ``source`` is a gallery :class:`Entry` or number, a path to a saved ``.json`` or ``.png``,
        their bytes (with ``name``), or a dict (a saved record or plain settings). Sample images
        named in the record are selected too. Returns True, or False with a message.
        """
        return self.lab.load(source, name, apply=self.set)

    def table(self) -> str:
        """The gallery as plain text, one line per run."""
        return self.lab.table()

    def figure(
        self, entries: list | None = None, cols: int | None = None, size: float = 2.6
    ) -> Any:
        """Gallery entries (default all) side by side as a matplotlib figure, each titled with
        the settings that differ between them."""
        return self.lab.figure(entries, cols=cols, size=size)

    def sheet(
        self,
        entries: list | None = None,
        cols: int | None = None,
        size: float = 2.2,
        quality: int = 85,
    ) -> Any:
        """Like :meth:`figure`, as a compact JPEG image for notebooks (small saved outputs)."""
        return self.lab.sheet(entries, cols=cols, size=size, quality=quality)
