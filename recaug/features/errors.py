"""Problems with feature inputs or the Feast store, reported to users in one line."""

from __future__ import annotations

from recaug.errors import RecaugError


class FeatureInputError(RecaugError):
    """An input table of the fusion stage breaks its contract (file, column, row, rule)."""


class FeastStateError(RecaugError):
    """The Feast store is not in the state a step needs (e.g. definitions not applied)."""
