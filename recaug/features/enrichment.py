"""The LLM's item attributes (augment's item enrichment) as item feature columns.

The enrichment table keeps each item's attributes as one JSON object (`attributes_json`,
e.g. {"genre": "space opera", "mood": "tense"}). Each key of `ATTRIBUTE_KEYS` becomes a
string column `llm_<key>` ("" = no value), lowercased so equal values group. What does not
parse is dropped and counted (`AttributeStats`): a cell that is not a JSON object, a key
outside the list, a value that is not a short plain string or number.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from recaug.augment.sanitize import is_clean, plain_text

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# the attribute names the item prompt asks for (AugmentConfig.attribute_keys' default); a fixed list
# because the feature tables have fixed schemas
ATTRIBUTE_KEYS = ("audience", "style", "mood", "use", "material", "color", "era", "genre")
COLUMNS = tuple(f"llm_{key}" for key in ATTRIBUTE_KEYS)
MAX_VALUE_CHARS = 40  # as recaug.augment.outputs.MAX_ATTRIBUTE_CHARS


class AttributeStats(BaseModel):
    rows: int = Field(0, description="enrichment rows read")
    items_with_attributes: int = Field(0, description="items with at least one attribute kept")
    values: int = Field(0, description="attribute values kept")
    dropped_not_json: int = Field(0, description="rows whose attributes_json is not a JSON object")
    dropped_unknown_key: int = Field(0, description="values under a key outside ATTRIBUTE_KEYS")
    dropped_bad_value: int = Field(0, description="values that are empty, nested, too long or not plain text")


def parse_value(value) -> str | None:
    """A short plain lowercase string, or None when the value does not parse."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = plain_text(str(value), 10 * MAX_VALUE_CHARS).lower()
    if not text or len(text) > MAX_VALUE_CHARS or not is_clean(text):
        return None
    return text


def attribute_columns(enrichment: "pd.DataFrame | None") -> tuple["pd.DataFrame", AttributeStats]:
    """item_id + one `llm_<key>` column per attribute key, and what was dropped."""
    import pandas as pd

    stats = AttributeStats()
    rows: list[dict[str, str]] = []
    if enrichment is not None and "attributes_json" in enrichment:
        for item_id, cell in zip(enrichment["item_id"].astype(str), enrichment["attributes_json"]):
            stats.rows += 1
            try:
                parsed = json.loads(cell) if isinstance(cell, str) else None
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                stats.dropped_not_json += 1
                continue
            row = {}
            for key, value in parsed.items():
                if key not in ATTRIBUTE_KEYS:
                    stats.dropped_unknown_key += 1
                    continue
                text = parse_value(value)
                if text is None:
                    stats.dropped_bad_value += 1
                    continue
                row[f"llm_{key}"] = text
            if row:
                stats.items_with_attributes += 1
                stats.values += len(row)
                rows.append({"item_id": item_id, **row})
    frame = pd.DataFrame(rows, columns=["item_id", *COLUMNS]).drop_duplicates("item_id", keep="last")
    frame[list(COLUMNS)] = frame[list(COLUMNS)].fillna("").astype(str)
    dropped = stats.dropped_not_json + stats.dropped_unknown_key + stats.dropped_bad_value
    if stats.rows:
        log.info("LLM item attributes: %d values kept on %d of %d items; dropped %d (%d rows not a JSON object, "
                 "%d values under unknown keys, %d values not short plain text)", stats.values,
                 stats.items_with_attributes, stats.rows, dropped, stats.dropped_not_json, stats.dropped_unknown_key,
                 stats.dropped_bad_value)
    return frame.reset_index(drop=True), stats
