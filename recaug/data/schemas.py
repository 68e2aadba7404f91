"""Canonical tables shared by every stage (see ARCHITECTURE.md, "Contracts").

Ids are strings everywhere (MovieLens ints, Amazon ASINs and marketplace SKUs alike);
the model builds its own integer vocabulary. Multi-valued text fields (tags,
categories) are stored as one string joined by `|` so that CSV, Parquet and Great
Expectations all handle them the same way. Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

MULTI_VALUE_SEPARATOR = "|"
OBSERVED = "observed"
AUGMENTED = "augmented"
SOURCES = (OBSERVED, AUGMENTED)


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype name after conforming
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class TableSchema:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def empty(self) -> pd.DataFrame:
        return conform(pd.DataFrame({c.name: [] for c in self.columns}), self)


TS = "datetime64[ns, UTC]"
# The times a TS value can hold (nanoseconds in int64), to whole seconds.
TS_FIRST = pd.Timestamp.min.ceil("s").tz_localize("UTC")
TS_LAST = pd.Timestamp.max.floor("s").tz_localize("UTC")

INTERACTIONS = TableSchema(
    name="interactions",
    key=("user_id", "item_id", "timestamp"),
    columns=(
        Column("user_id", "string", description="who acted"),
        Column("item_id", "string", description="on what"),
        Column("timestamp", TS, description="when (UTC)"),
        Column("event_type", "string", required=False, description="view, click, purchase, rating..."),
        Column("rating", "float64", required=False, description="explicit rating if any"),
        Column("source", "string", required=False, description="observed | augmented"),
        Column("confidence", "float64", required=False, description="1.0 for observed rows; generator confidence for augmented rows"),
    ),
)

ITEMS = TableSchema(
    name="items",
    key=("item_id",),
    columns=(
        Column("item_id", "string"),
        Column("title", "string"),
        Column("description", "string", required=False),
        Column("tags", "string", required=False, description="'|'-joined free tags"),
        Column("categories", "string", required=False, description="'|'-joined categories / genres"),
        Column("brand", "string", required=False),
        Column("price", "float64", required=False),
        Column("first_seen", TS, required=False, description="when the item entered the catalogue"),
    ),
)

USERS = TableSchema(
    name="users",
    key=("user_id",),
    columns=(
        Column("user_id", "string"),
        Column("age", "Int64", required=False),
        Column("gender", "string", required=False),
        Column("occupation", "string", required=False),
        Column("region", "string", required=False),
        Column("first_seen", TS, required=False),
    ),
)

SCHEMAS = {s.name: s for s in (INTERACTIONS, ITEMS, USERS)}


def to_utc(values: pd.Series) -> pd.Series:
    """Parse epoch seconds, ISO strings or datetimes into UTC timestamps."""
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values
        if getattr(ts.dt, "tz", None) is None:
            return ts.dt.tz_localize("UTC").astype(TS)
        return ts.dt.tz_convert("UTC").astype(TS)
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_datetime(values, unit="s", utc=True).astype(TS)
    return pd.to_datetime(values, utc=True, format="mixed").astype(TS)


def conform(df: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Return `df` with the schema's columns, in order, with canonical dtypes.

    Optional columns missing from `df` are added as nulls; extra columns are dropped.
    Raises KeyError naming the missing required columns.
    """
    missing = [c for c in schema.required if c not in df.columns]
    if missing:
        raise KeyError(f"{schema.name}: missing required column(s) {missing}")
    out = {}
    for col in schema.columns:
        if col.name in df.columns:
            values = df[col.name]
        else:
            values = pd.Series([None] * len(df), index=df.index)
        if col.dtype == TS:
            out[col.name] = to_utc(values) if len(values.dropna()) or col.name in df.columns else values.astype(TS)
        else:
            out[col.name] = values.astype(col.dtype)
    result = pd.DataFrame(out, index=df.index).reset_index(drop=True)
    if schema is INTERACTIONS:
        result["source"] = result["source"].fillna(OBSERVED)
        result["confidence"] = result["confidence"].fillna(1.0)
    return result


def read_conformed(url: str, schema: TableSchema, error: type[Exception]) -> pd.DataFrame:
    """Read a lake table and conform it to `schema`; every problem raises `error` naming the
    file and the column or row: unreadable Parquet, missing columns, wrong types, empty keys."""
    from recaug import io

    try:
        df = io.read_parquet(url)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise error(f"{url}: cannot be read as Parquet ({exc})") from exc
    try:
        df = conform(df, schema)
    except KeyError as exc:
        raise error(f"{url}: {exc.args[0]}") from exc
    except (ValueError, TypeError) as exc:
        raise error(f"{url}: columns do not match the {schema.name} schema ({exc})") from exc
    for column in schema.key:
        nulls = df.index[df[column].isna()]
        if len(nulls):
            raise error(f"{url}: row {int(nulls[0])} column {column!r} is empty (ids and times are required)")
    return df
