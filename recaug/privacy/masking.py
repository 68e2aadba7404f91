"""Masking of personal values where samples are shown (quarantine reports, data docs, logs).

A rule on several columns (duplicate events over user, item and time) is personal when
any of its columns is: its samples are tuples that would show the personal part.
"""

from __future__ import annotations

MASK = "<masked>"


def is_personal(columns: str | None, personal_fields: list[str]) -> bool:
    """`columns`: one column name or several joined by ', ' (as validation reports name them)."""
    if not columns:
        return False
    personal = {f.strip().lower() for f in personal_fields}
    return any(c.strip().lower() in personal for c in columns.split(","))


def mask_value(value) -> str:
    """A mask keeping only the length of the value's text (enough to spot an empty or
    overlong value, nothing of its content)."""
    return f"{MASK} ({len(str(value))} chars)"


def mask_samples(columns: str | None, values: list, personal_fields: list[str]) -> list:
    """`values` unchanged, or each one masked when `columns` are personal."""
    if not is_personal(columns, personal_fields):
        return values
    return [mask_value(v) for v in values]


def mask_field(column: str, value, personal_fields: list[str]):
    """One value as a log line may show it: masked when its column is personal."""
    return mask_value(value) if is_personal(column, personal_fields) else value
