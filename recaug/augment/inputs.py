"""Reads the curated tables augmentation works from, with errors that name file and rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from recaug import io
from recaug.data import schemas
from recaug.errors import RecaugError

if TYPE_CHECKING:
    import pandas as pd


class AugmentInputError(RecaugError):
    """A curated table augmentation needs is missing or broken."""


@dataclass(frozen=True)
class AugmentInputs:
    interactions: "pd.DataFrame"  # observed rows only, sorted by user and time
    items: "pd.DataFrame"  # curated items (may be empty: titles then fall back to ids)

    def item_rows(self) -> dict[str, dict]:
        return {row["item_id"]: row for row in self.items.to_dict("records")}


def load_inputs(settings) -> AugmentInputs:
    lake = settings.lake
    if not io.exists(lake.interactions):
        raise AugmentInputError(f"{lake.interactions}: not found; run `recaug ingest` first")
    interactions = _conformed(lake.interactions, schemas.INTERACTIONS)
    interactions = interactions[interactions["source"] == schemas.OBSERVED]
    interactions = interactions.sort_values(["user_id", "timestamp", "item_id"], kind="stable").reset_index(drop=True)
    items = _conformed(lake.items, schemas.ITEMS) if io.exists(lake.items) else schemas.ITEMS.empty()
    return AugmentInputs(interactions, items)


def _conformed(url: str, schema: schemas.TableSchema) -> "pd.DataFrame":
    try:
        df = io.read_parquet(url)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise AugmentInputError(f"{url}: cannot be read as Parquet ({exc})") from exc
    try:
        df = schemas.conform(df, schema)
    except KeyError as exc:
        raise AugmentInputError(f"{url}: {exc.args[0]}") from exc
    except (ValueError, TypeError) as exc:
        raise AugmentInputError(f"{url}: columns do not match the {schema.name} schema ({exc})") from exc
    for column in schema.key:
        nulls = df.index[df[column].isna()]
        if len(nulls):
            raise AugmentInputError(f"{url}: row {int(nulls[0])} column {column!r} is empty (ids and times are required)")
    return df
