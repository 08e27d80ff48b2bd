"""The one exception type that the course shows to people."""


class NSTError(ValueError):
    """A user-facing error: one line saying what was wrong and what to do."""
