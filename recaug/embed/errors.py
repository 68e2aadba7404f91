"""Errors of the embedding job that users can act on."""

from __future__ import annotations

from recaug.errors import RecaugError


class EmbedError(RecaugError):
    """The embedding job cannot run on these inputs (the message names the file and rule)."""
