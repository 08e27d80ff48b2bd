"""The explorer's lab: images, gallery, runs, sweeps and stopping, without a single widget.

A :class:`Lab` holds what the explorer works on: the content and style images and where they came
from (its part :class:`~nst_helpers.explorer.sources.ImageSources`), the messages (its part
:class:`~nst_helpers.explorer.messages.Messages`), the gallery of finished runs, and the run going
on in the background. It takes settings as plain dicts (what the controls hold) and tells a
:class:`Listener` what happens; the explorer's view is one, and the lab alone, driven from a script
or a test, shows nothing::

    lab = Lab()
    lab.set_image("content", "chelsea"); lab.set_image("style", "starry_night")
    entry = lab.run({"max_side": 64, "steps": 5}, block=True)
    lab.save(entry, "outputs")

A sweep is a list of :data:`Job` (:meth:`Lab.plan`) that :meth:`Lab.run_jobs` runs one after the
other into the gallery; each job is a whole :class:`StyleConfig`, so the same list can go to
:func:`nst_helpers.sweep.run_sweep` as its runs' settings.
"""

from __future__ import annotations

import pathlib
import threading
from collections import namedtuple
from collections.abc import Callable
from typing import Any

from ..config import StyleConfig, preset as make_preset
from ..errors import NSTError
from ..images import default_max_side
from ..loop import progress_bar
from .listener import Listener, outcome
from .messages import describe
from .records import (
    Entry,
    figure,
    fmt,
    parse_grid,
    read_record,
    record_settings,
    sheet,
    write_entry,
)
from .sources import IMAGES, MAX_KEEP, ImageSources

# IMAGES and MAX_KEEP live in .sources; they are offered here too, where they used to be.
__all__ = ["IMAGES", "MAX_KEEP", "SEED_STUDY", "Job", "Lab"]

#: The original paper's study (style weight x learning rate), the default sweep. Each entry starts
#: from the ``seed`` preset; the sweep's own size and step count apply unless an entry sets them.
SEED_STUDY = tuple(
    {"preset": "seed", "style_weight": sw, "learning_rate": lr}
    for sw in (1e-1, 1e-2, 1e-3)
    for lr in (2.0, 4.0)
)
#: One run of a sweep (or the single run of *Run*): its settings, and what it is for messages.
Job = namedtuple("Job", "config note")


class Lab(ImageSources):
    """Images, gallery, runs, sweeps and stopping of the explorer (see the module's text).

    Args:
        backbone: the backbone (default ``"auto"``, which honours ``NST_BACKBONE``).
        listener: what to tell about messages, images, runs and the gallery (default: nobody).
    """

    gallery: list[Entry]
    live: dict[str, Any]
    _thread: threading.Thread | None

    def __init__(self, backbone: str | None = None, *, listener: Listener | None = None) -> None:
        # Lazy: the backbone starts TensorFlow, which importing the explorer must not.
        from ..backbone import load_backbone, resolve_name  # noqa: PLC0415

        self.backbone_spec = resolve_name(backbone)
        self.backbone = load_backbone(self.backbone_spec, verbose=False)
        self.layers = list(self.backbone.layers)
        super().__init__(listener)  # the messages and the images
        self.gallery = []
        self.live = {"steps": [], "history": {}, "prefix": ""}  # the run going on
        self.running = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._counter = 0

    # ---------------------------------------------------------------------------------------------
    # Settings
    # ---------------------------------------------------------------------------------------------

    def values(self, preset: str | None = None, **settings: Any) -> dict:
        """The settings that controls moved to ``preset`` and then to ``settings`` must show.

        A preset gives every value but the backbone, and its size only if it names one.

        Raises:
            NSTError: an unknown preset or setting, or a bad value (checked before anything moves).
        """
        if preset is not None:
            values = make_preset(preset).to_dict()
            values.pop("backbone", None)
            if values["max_side"] in ("auto", None):  # presets leave the size as it is
                values.pop("max_side")
            settings = {**values, **settings}
        StyleConfig().replace(**{k: v for k, v in settings.items() if k != "backbone"})
        return settings

    def config(self, settings: dict, **changes: Any) -> StyleConfig:
        """The :class:`StyleConfig` of ``settings`` (the controls' values, over the seed's
        defaults and this lab's backbone) with ``changes``. A ``preset`` in ``changes`` replaces
        ``settings`` but for their size and steps.

        Raises:
            NSTError: a bad value, no style layer, or a layer the backbone lacks.
        """
        changes = dict(changes)
        name = changes.pop("preset", None)
        if name is not None:
            settings = {k: settings[k] for k in ("max_side", "steps") if k in settings}
        base = make_preset(name or "seed").to_dict()
        settings = {**base, "backbone": self.backbone_spec, **settings, **changes}
        if settings.get("max_side") == "auto":
            settings["max_side"] = default_max_side()
        if not settings["style_layers"]:
            raise NSTError("tick at least one style layer (Layers tab).")
        self.backbone.check_layers(
            list(settings["content_layers"]) + list(settings["style_layers"])
        )
        return StyleConfig().replace(**settings)

    # ---------------------------------------------------------------------------------------------
    # Runs and sweeps
    # ---------------------------------------------------------------------------------------------

    def run(
        self, settings: dict, block: bool = False, every: int = 10, **changes: Any
    ) -> Entry | None:
        """Run with ``settings`` and ``changes``, previews every ``every`` steps.

        With ``block=False`` the run goes on in a background thread and this returns None at once
        (:meth:`wait` waits for it); with ``block=True`` it returns the gallery :class:`Entry`, or
        None when the run could not start or failed (see :attr:`message`).
        """
        try:
            cfg = self.config(settings, **changes)
        except NSTError as err:
            self.say("error", f"Cannot run: {err}")
            return None
        return self.start([Job(cfg, "")], block, single=True, every=every)

    def plan(self, settings: dict, grid: list, common: dict) -> list:
        """The :data:`Job` of each entry of ``grid`` (dicts of settings, perhaps a ``"preset"``),
        starting from ``settings`` with ``common`` (the sweep's size and steps) applied first.

        Raises:
            NSTError: an entry that is not a dict or holds a bad value (named by its number), or
                an empty grid.
        """
        jobs = []
        for i, item in enumerate(grid, start=1):
            if not isinstance(item, dict):
                raise NSTError(f"sweep entry {i} is not a dict of settings.")
            note = ", ".join(
                f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in item.items()
            )
            try:
                jobs.append(
                    Job(
                        self.config(settings, **{**common, **item}),
                        f"sweep {i}/{len(grid)}: {note}",
                    )
                )
            except NSTError as err:
                raise NSTError(f"sweep entry {i} ({note}): {err}") from None
        if not jobs:
            raise NSTError("the sweep grid is empty.")
        return jobs

    def sweep(
        self, settings: dict, grid: str | list, common: dict, block: bool = False, every: int = 10
    ) -> list | None:
        """Run each entry of ``grid`` (a list of dicts, or its text for :func:`parse_grid`) into
        the gallery, as :meth:`plan` makes them; the new entries when ``block=True``."""
        try:
            jobs = self.plan(settings, parse_grid(grid) if isinstance(grid, str) else grid, common)
        except NSTError as err:
            self.say("error", f"Cannot sweep: {err}")
            return None
        return self.start(jobs, block, single=False, every=every)

    def start(self, jobs: list, block: bool, single: bool, every: int = 10) -> Any:
        """Run ``jobs`` (here if ``block``, else in a background thread) unless a run is going;
        with ``block``, the last entry (``single``) or the list of new entries, else None."""
        with self._lock:
            if self.running:
                self.say("warning", "A run is already going: wait for it to finish or press Stop.")
                return None
            self.running = True
        self._stop.clear()
        self.listener.busy(True)
        if block:  # the calling cell waits: a bar there counts the runs of a sweep
            entries = self.run_jobs(jobs, every, bar=len(jobs) > 1)
            return (entries[-1] if entries else None) if single else entries
        self._thread = threading.Thread(
            target=self.run_jobs, args=(jobs, every), daemon=True, name="nst-explorer-run"
        )
        self._thread.start()
        return None

    def run_jobs(self, jobs: list, every: int = 10, bar: bool = False) -> list:
        """Run ``jobs`` one after the other into the gallery until one is stopped; the new
        entries. With ``bar``, a progress bar counts the runs. (Call :meth:`start`, which checks
        that nothing else runs.)"""
        entries: list[Entry] = []
        counter = progress_bar(len(jobs), "sweep", bar, unit="run")
        try:
            for job in jobs:
                if self._stop.is_set():
                    break
                prefix = f"{job.note.split(':')[0]} · " if len(jobs) > 1 else ""
                entry = self._run_one(job, prefix, every)
                if entry is not None:
                    entries.append(entry)
                if counter is not None:
                    counter.update()
            if len(jobs) > 1 and entries:
                self.say(
                    "ok" if len(entries) == len(jobs) else "warning",
                    f"Sweep done: {len(entries)} of {len(jobs)} runs joined the gallery"
                    + (" (stopped early)." if self._stop.is_set() else "."),
                )
        finally:
            if counter is not None:
                counter.close()
            with self._lock:
                self.running = False
            self.listener.busy(False)
        return entries

    def _run_one(self, job: Job, prefix: str, every: int) -> Entry | None:
        from ..optimize import stylize  # noqa: PLC0415 - lazy: it starts TensorFlow

        self.live = {"steps": [], "history": {}, "prefix": prefix}
        self.listener.run_started(job, prefix)
        self.say("info", f"Running {job.note or 'with the current settings'}…")
        try:
            result = stylize(
                self.images.get("content"),
                self.images.get("style"),
                job.config,
                callback=self._on_progress,
                callback_every=max(1, int(every)),
                should_stop=self._stop.is_set,
                progress=False,
                verbose=False,
            )
        except Exception as err:  # keep the interface alive and say what happened
            if not isinstance(err, NSTError):
                self.keep_traceback()
            self.say("error", f"The run failed: {describe(err)}")
            self.listener.run_failed()
            return None
        self._counter += 1
        entry = Entry(
            self._counter,
            result,
            self.sources.get("content", "image:content"),
            self.sources.get("style", "image:style"),
            job.note,
        )
        self.listener.run_finished(entry, prefix)
        self.say(*outcome(entry))
        self.gallery.append(entry)
        self.listener.entry_added(entry)
        return entry

    def _on_progress(self, p: Any) -> None:
        """Called by :func:`stylize` every few steps, from the thread of the run."""
        try:
            self.live["steps"].append(p.step)
            for k, v in p.losses.items():
                self.live["history"].setdefault(k, []).append(v)
            self.listener.run_step(p, self.live)
        except Exception:  # a drawing problem must never end the run
            self.keep_traceback()

    def stop(self) -> bool:
        """Ask the running run (or sweep) to stop at its next preview; its best image is kept.

        Returns:
            False (with a message) when nothing runs.
        """
        if not self.running:
            self.say("info", "Nothing is running.")
            return False
        self._stop.set()
        self.say("info", "Stopping at the next preview step…")
        return True

    def wait(self, timeout: float | None = None) -> Entry | None:
        """Wait for a background run or sweep to end; the latest gallery entry (or None, also
        when ``timeout`` seconds passed first)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return None
        return self.gallery[-1] if self.gallery else None

    # ---------------------------------------------------------------------------------------------
    # The gallery: saving, loading, reading it from code
    # ---------------------------------------------------------------------------------------------

    def entry(self, ref: int | Entry | None = None) -> Entry:
        """A gallery entry: ``ref`` itself, the one numbered ``ref``, or (None) the latest.

        Raises:
            NSTError: the gallery is empty, or has no such run.
        """
        if ref is None:
            if not self.gallery:
                raise NSTError("the gallery is empty; run something first.")
            return self.gallery[-1]
        if isinstance(ref, Entry):
            return ref
        for e in self.gallery:
            if e.number == ref:
                return e
        raise NSTError(f"there is no run #{ref} in the gallery.")

    def clear_gallery(self) -> None:
        """Remove every run from the gallery (saved files stay)."""
        self.gallery.clear()
        self.listener.gallery_cleared()
        self.say("info", "The gallery is empty.")

    def save(
        self, entry: int | Entry | None = None, folder: str | pathlib.Path = "."
    ) -> tuple | None:
        """Save a gallery entry (default the latest) with :func:`records.write_entry`, never
        overwriting; the two paths ``(png, json)``, or None with a message."""
        try:
            entry = self.entry(entry)
            png, js = write_entry(entry, folder)
        except (NSTError, OSError) as err:
            self.say("error", f"Not saved: {err}")
            return None
        self.say("ok", f"Saved run #{entry.number} as {png} and {js.name}.")
        return png, js

    def load(
        self, source: Any, name: str | None = None, apply: Callable[..., list] | None = None
    ) -> bool:
        """Load saved settings: sample images named in the record are selected, and
        ``apply(**settings)`` (the explorer's ``set``) puts the settings on the controls and
        returns its warnings.

        Args:
            source: a gallery :class:`Entry` or number, a path to a saved ``.json`` or ``.png``,
                their bytes (with ``name``), or a dict (a saved record or plain settings).
            name: the file's name, for messages.
            apply: what takes the settings; without it they are only checked.

        Returns:
            True, or False with a message, whatever the file holds.
        """

        def check(**settings: Any) -> list[str]:
            self.values(**settings)
            return []

        try:
            if isinstance(source, (int, Entry)) and not isinstance(source, bool):
                record = self.entry(source).to_json()
            else:
                record = read_record(source, name)
            settings = record_settings(record, name)
            for key in IMAGES:
                src = record.get(key)
                if isinstance(src, str) and src.startswith("sample:"):
                    self.set_image(key, src.split(":", 1)[1])
            warnings = (apply or check)(**settings)
        except NSTError as err:
            self.say("error", f"Not loaded: {err}")
            return False
        except Exception as err:  # whatever the file holds, the widget says so
            self.keep_traceback()
            self.say(
                "error",
                f"Not loaded: {name or 'the settings'} could not be used "
                f"({type(err).__name__}: {err}).",
            )
            return False
        what = f"run #{record['run']}" if "run" in record else "the settings"
        extra = (
            f" (backbone of that run: {record['backbone']})"
            if record.get("backbone") not in (None, self.backbone.name)
            else ""
        )
        self.say(
            "warning" if warnings else "ok",
            f"Loaded {what} into the controls{extra}."
            + (" " + " ".join(warnings) if warnings else ""),
        )
        return True

    def table(self) -> str:
        """The gallery as plain text, one line per run."""
        return "\n".join(e.summary() for e in self.gallery)

    def figure(
        self, entries: list | None = None, cols: int | None = None, size: float = 2.6
    ) -> Any:
        """Gallery entries (default all) side by side: :func:`records.figure`."""
        return figure(self.gallery if entries is None else entries, cols=cols, size=size)

    def sheet(
        self,
        entries: list | None = None,
        cols: int | None = None,
        size: float = 2.2,
        quality: int = 85,
    ) -> Any:
        """Gallery entries (default all) as a compact JPEG: :func:`records.sheet`."""
        return sheet(
            self.gallery if entries is None else entries, cols=cols, size=size, quality=quality
        )
