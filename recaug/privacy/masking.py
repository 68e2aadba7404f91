"""Masking of personal values where samples are shown (quarantine reports, logs)."""

from __future__ import annotations

MASK = "<masked>"


def is_personal(column: str | None, personal_fields: list[str]) -> bool:
    return column is not None and column.strip().lower() in {f.lower() for f in personal_fields}


def mask_samples(column: str | None, values: list[str], personal_fields: list[str]) -> list[str]:
    """`values` unchanged, or each replaced by a mask that keeps only its length (enough to
    spot an empty or overlong value, nothing of its content)."""
    if not is_personal(column, personal_fields):
        return values
    return [f"{MASK} ({len(v)} chars)" for v in values]
