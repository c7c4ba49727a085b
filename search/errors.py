"""Error classes of the search package; each message says what to change."""

from __future__ import annotations


class SearchError(Exception):
    """Base class of every error raised on purpose by `search`."""


class InvalidValue(SearchError, ValueError):
    """A value is outside a parameter's domain (wrong type, out of bounds, not a choice)."""


class InvalidConfig(SearchError, ValueError):
    """A config is not in a space: unknown or bad parameter values, or a violated constraint.

    `parameter` names the offending parameter and `constraint` the violated constraint, when known.
    """

    def __init__(self, message: str, *, parameter: str | None = None, constraint: str | None = None):
        super().__init__(message)
        self.parameter = parameter
        self.constraint = constraint
