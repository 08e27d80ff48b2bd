"""The one exception type that the course shows to people."""

from __future__ import annotations

__all__ = ["NSTError"]


class NSTError(ValueError):
    """A user-facing error: one line saying what was wrong and what to do."""
