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
    interactions = schemas.read_conformed(lake.interactions, schemas.INTERACTIONS, AugmentInputError)
    interactions = interactions[interactions["source"] == schemas.OBSERVED]
    interactions = interactions.sort_values(["user_id", "timestamp", "item_id"], kind="stable").reset_index(drop=True)
    items = (schemas.read_conformed(lake.items, schemas.ITEMS, AugmentInputError) if io.exists(lake.items)
             else schemas.ITEMS.empty())
    return AugmentInputs(interactions, items)

