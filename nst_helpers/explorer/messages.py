"""The explorer's messages: what it says, newest last, and the traceback of its last failure.

:class:`Messages` is the first part of the explorer's :class:`~nst_helpers.explorer.lab.Lab`: every
other part says what happened through :meth:`Messages.say`, which also tells the lab's
:class:`~nst_helpers.explorer.listener.Listener` (the explorer's view shows it).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from ..errors import NSTError
from .listener import Listener

__all__ = ["Messages", "describe"]


def describe(err: Exception) -> str:
    """An error in one line: the library's own message, or its type and text."""
    return str(err) if isinstance(err, NSTError) else f"{type(err).__name__}: {err}"


class Messages:
    """The messages of the explorer, and the listener that hears them.

    Args:
        listener: what to tell about messages (default: nobody).
    """

    messages: list[tuple[str, str]]
    last_error: str | None

    def __init__(self, listener: Listener | None = None) -> None:
        self.listener = listener or Listener()
        self.messages = []  # (kind, text), newest last
        self.last_error = None  # traceback text of the last unexpected failure

    @property
    def message(self) -> str:
        """The latest message, as plain text."""
        return self.messages[-1][1] if self.messages else ""

    def say(self, kind: str, text: str) -> None:
        """Add a message (``kind``: ``"info"``, ``"ok"``, ``"warning"``, ``"error"``); the last
        hundred are kept."""
        self.messages.append((kind, text))
        del self.messages[:-100]
        self.listener.message(kind, text)

    def keep_traceback(self) -> None:
        """Keep the traceback of the exception being handled in :attr:`last_error`."""
        self.last_error = traceback.format_exc()

    def guarded(self, action: Callable, what: str) -> Callable:
        """``action`` as a widget handler: whatever it raises ends in a message (``what`` failed:
        the error), with the traceback kept in :attr:`last_error`, never escaping into the
        browser's log where nobody sees it."""

        def handler(*args: Any) -> Any:
            try:
                return action(*args)
            except Exception as err:  # a handler must never fail silently
                self.keep_traceback()
                self.say("error", f"{what} failed: {describe(err)}")
                return None

        return handler
