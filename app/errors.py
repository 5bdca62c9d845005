"""The one error type the core raises for problems a user can fix."""


class StudioError(Exception):
    """A user-facing failure; ``str(err)`` is a one-line explanation of what went wrong and what to do."""
