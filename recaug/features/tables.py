"""The feature tables written under `features/`: names and exact Arrow schemas.

These are the Parquet files the Feast FileSources in feature_repo/ read; the schemas
are explicit so that empty tables and list columns keep their types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

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
    # without pandas' metadata: readers get plain lists, not the Arrow-backed dtype a builder used
    return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False).replace_schema_metadata(None)


def row_digests(table: "pa.Table") -> "np.ndarray":
    """A 128-bit hash of every row by value, over all columns, to find changed rows: two
    independent 64-bit hashes (pandas' hash under two keys) as one 16-byte value per row, so
    that two different rows agree by chance about once in 1e19 tables of 1e10 rows, where a
    single 64-bit hash would hide a changed row from materialize about once in 1e7 diffs of
    1M rows.

    Computed on the Arrow buffers: strings through their dictionary, lists from their flat
    values and offsets, so a table of millions of history lists is hashed without one
    Python object per cell or element.
    """
    import numpy as np

    halves = np.zeros((table.num_rows, len(_HASH_KEYS)), dtype=np.uint64)
    for column in table.itercolumns():
        column = column.combine_chunks()
        for half, (key, step) in enumerate(zip(_HASH_KEYS, _ROW_STEPS)):
            halves[:, half] = halves[:, half] * step ^ _value_hashes(column, key)
    return halves.view(f"V{8 * len(_HASH_KEYS)}").ravel()


_HASH_KEYS = ("0123456789123456", "recaug-row-dig-2")  # pandas' default key, and a second one
_ROW_STEPS = (np.uint64(1_000_003), np.uint64(0xD6E8FEB86659FD93))
_NULL_HASH = np.uint64(0x9E3779B97F4A7C15)
_POSITION_STEP = np.uint64(0xC2B2AE3D27D4EB4F)
_MIX = np.uint64(0x165667B19E3779F9)


def _value_hashes(array: "pa.Array", key: str) -> "np.ndarray":
    """uint64 per element of `array` by value; nulls hash alike, lists by their elements in order."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        offsets = array.offsets.to_numpy().astype(np.int64)
        elements = _value_hashes(array.values, key)[offsets[0]:offsets[-1]]
        positions = np.arange(len(elements), dtype=np.int64) - np.repeat(offsets[:-1] - offsets[0], np.diff(offsets))
        with np.errstate(over="ignore"):
            mixed = (elements + positions.astype(np.uint64) * _POSITION_STEP) * _MIX
            sums = np.concatenate([[np.uint64(0)], np.cumsum(mixed, dtype=np.uint64)])
            hashed = sums[offsets[1:] - offsets[0]] - sums[offsets[:-1] - offsets[0]]
        hashed ^= pd.util.hash_array(np.diff(offsets), hash_key=key)
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        encoded = pc.dictionary_encode(array)
        words = pd.util.hash_array(encoded.dictionary.to_numpy(zero_copy_only=False), hash_key=key)
        hashed = words[encoded.indices.fill_null(0).to_numpy()] if len(words) else np.zeros(len(array), np.uint64)
    else:
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_duration(kind):
            array = array.cast(pa.int64())
        filled = array.fill_null(False if pa.types.is_boolean(array.type) else 0) if array.null_count else array
        hashed = pd.util.hash_array(filled.to_numpy(zero_copy_only=False), hash_key=key)
        if key != _HASH_KEYS[0]:  # pandas hashes numbers alike under every key: salt them (a bijection)
            with np.errstate(over="ignore"):
                hashed = (hashed ^ pd.util.hash_array(np.array([key], dtype=object))[0]) * _MIX
    if array.null_count:
        hashed = np.where(array.is_null().to_numpy(zero_copy_only=False), _NULL_HASH, hashed)
    return hashed
