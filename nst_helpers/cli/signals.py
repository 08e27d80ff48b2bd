"""How a command of ``nst`` ends: its exit statuses, and SIGTERM taken as Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_DIVERGED",
    "EXIT_NOT_WRITTEN",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "Terminated",
    "sigterm_as_interrupt",
    "interrupted_status",
]

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_NOT_WRITTEN = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM, what shells report for a process ended by it


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that a run ends as after Ctrl-C: best image kept."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[dict]:
    """Treat SIGTERM like Ctrl-C while the block runs; yields a dict whose ``"signalled"`` says
    whether it came. Only the first SIGTERM interrupts, so the saving that follows is not cut
    short. The previous handler is restored after. Outside the main thread nothing changes."""
    state = {"signalled": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, frame: object) -> None:
        if not state["signalled"]:
            state["signalled"] = True
            raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def interrupted_status(term: dict) -> int:
    """The exit status of a run ended by Ctrl-C (130) or SIGTERM (143)."""
    return EXIT_TERMINATED if term and term.get("signalled") else EXIT_INTERRUPTED
