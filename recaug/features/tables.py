"""The feature tables written under `features/`: names and exact Arrow schemas.

These are the Parquet files the Feast FileSources in feature_repo/ read; the schemas
are explicit so that empty tables and list columns keep their types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recaug.features.enrichment import COLUMNS as ATTRIBUTE_COLUMNS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

TIMESTAMP = "event_timestamp"

# table name -> (entity key, feature columns); every table also has `event_timestamp`.
TABLES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "item_content": ("item_id", (
        ("title", "string"), ("categories", "string"), ("brand", "string"), ("price", "float64"),
        ("keywords", "string"), ("llm_description", "string"), ("first_seen_unix", "int64"), ("embedding", "list<float32>"),
        ("has_embedding", "bool"), ("encoder", "string"),
        # the LLM's attributes (recaug.features.enrichment), "" when none parsed
        *((column, "string") for column in ATTRIBUTE_COLUMNS),
    )),
    "item_popularity": ("item_id", (
        ("item_n_events", "int64"), ("item_n_users", "int64"), ("item_n_events_recent", "int64"),
        ("item_last_event_unix", "int64"),
    )),
    "user_behaviour": ("user_id", (
        ("n_events", "int64"), ("n_items", "int64"), ("n_augmented", "int64"), ("mean_rating", "float64"),
        ("first_event_unix", "int64"), ("last_event_unix", "int64"), ("active_days", "int64"),
        ("mean_gap_hours", "float64"), ("hour_shares", "list<float32>"), ("weekday_shares", "list<float32>"),
        ("top_categories", "list<string>"), ("top_category_shares", "list<float32>"),
    )),
    "user_history": ("user_id", (
        ("history_item_ids", "list<string>"), ("history_timestamps", "list<int64>"), ("history_length", "int64"),
    )),
    "user_profile": ("user_id", (
        ("profile_embedding", "list<float32>"), ("profile_encoder", "string"),
    )),
    "user_attributes": ("user_id", (
        ("age", "float64"), ("gender", "string"), ("occupation", "string"), ("region", "string"),
    )),
}


def arrow_schema(table: str) -> "pa.Schema":
    import pyarrow as pa

    types = {
        "string": pa.string(), "float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_(),
        "list<float32>": pa.list_(pa.float32()), "list<int64>": pa.list_(pa.int64()),
        "list<string>": pa.list_(pa.string()),
    }
    key, columns = TABLES[table]
    return pa.schema(
        [pa.field(key, pa.string(), nullable=False), pa.field(TIMESTAMP, pa.timestamp("ns", tz="UTC"), nullable=False)]
        + [pa.field(name, types[kind]) for name, kind in columns]
    )


def to_arrow(table: str, df: "pd.DataFrame") -> "pa.Table":
    """The frame as an Arrow table with the table's exact schema (columns in order)."""
    import pyarrow as pa

    schema = arrow_schema(table)
    return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)


def row_fingerprints(table: "pa.Table") -> "pd.DataFrame":
    """(key, event_timestamp, hash of the whole row) for every row, to find changed rows."""
    import hashlib

    import numpy as np
    import pandas as pd
    import pyarrow as pa

    frame = table.to_pandas()
    digest = np.zeros(len(frame), dtype=np.uint64)
    for column in frame.columns:
        values = frame[column]
        if pa.types.is_list(table.schema.field(column).type):
            values = values.map(lambda v: hashlib.blake2b(_list_bytes(v), digest_size=8).hexdigest())
        hashed = pd.util.hash_pandas_object(values, index=False).to_numpy()
        digest = digest * np.uint64(1_000_003) ^ hashed
    key = table.schema.names[0]
    return pd.DataFrame({key: frame[key], TIMESTAMP: frame[TIMESTAMP], "fingerprint": digest})



def _list_bytes(value) -> bytes:
    """Bytes of one list cell by value (an object array's own bytes would be pointers)."""
    import numpy as np

    if value is None:
        return b""
    array = np.asarray(value)
    if array.dtype == object:
        return "\x1f".join(map(str, array.tolist())).encode()
    return array.tobytes()
