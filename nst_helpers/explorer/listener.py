"""What the explorer's lab tells its view: the :class:`Listener`, and the message that ends a run.

The lab calls a listener's methods as things happen; the explorer's view implements them with
widgets, and the plain :class:`Listener` shows nothing (the lab alone, in scripts and tests).
"""

from __future__ import annotations

from typing import Any

from .records import Entry, fmt

__all__ = ["Listener", "outcome"]


class Listener:
    """What a :class:`Lab` tells its view. This one shows nothing; the explorer's view shows it all.

    Every method may be called from the thread of a run.
    """

    def message(self, kind: str, text: str) -> None:
        """A message: ``kind`` is ``"info"``, ``"ok"``, ``"warning"`` or ``"error"``."""

    def image(self, which: str, key: str, image: Any, options: list) -> None:
        """The ``which`` image is now ``image``, chosen as ``key`` (``"sample:chelsea"``) among
        ``options`` (``(label, key)`` pairs)."""

    def busy(self, busy: bool) -> None:
        """A run or sweep started (True) or ended (False)."""

    def run_started(self, job: Any, prefix: str) -> None:
        """One run of ``job`` starts; ``prefix`` names it within a sweep (or is empty)."""

    def run_step(self, progress: Any, live: dict) -> None:
        """The run reached ``progress.step``; ``live`` holds its ``steps`` and loss ``history``."""

    def run_failed(self) -> None:
        """The run ended with an error (already in a message)."""

    def run_finished(self, entry: Entry, prefix: str) -> None:
        """The run ended with ``entry``, about to join the gallery."""

    def entry_added(self, entry: Entry) -> None:
        """``entry`` joined the gallery."""

    def gallery_cleared(self) -> None:
        """The gallery is empty."""


def outcome(entry: Entry) -> tuple:
    """The message that ends the run of ``entry``: ``(kind, text)``."""
    r, n = entry.result, entry.number
    if r.stop_reason == "stopped":
        return "warning", (
            f"Run #{n} stopped at step {r.steps} of {r.config.steps}; the best "
            "image so far joined the gallery."
        )
    if r.stop_reason == "diverged":
        return "warning", f"Run #{n}: {r.message}"
    if r.stop_reason == "interrupted":
        return "warning", f"Run #{n} was interrupted; kept the best image so far."
    return "ok", (
        f"Run #{n} finished: {r.steps} steps in {r.seconds:.1f} s, final loss "
        f"{fmt(entry.final_losses['total'])}."
    )
