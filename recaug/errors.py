"""Errors that are reported to users as one readable message (no traceback)."""


class RecaugError(Exception):
    """A problem the user can act on; the message says what and where."""

    exit_code = 1


class ConfigError(RecaugError):
    exit_code = 2


class ValidationFailed(RecaugError):
    """A landing batch broke one or more data rules (it was quarantined)."""

    exit_code = 3
