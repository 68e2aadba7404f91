"""Reading landing files and turning them into frames Great Expectations can judge.

A landing file arrives as CSV or Parquet with whatever types its producer chose. The
*check frame* holds every column converted to its canonical type (values that do not
convert become null) plus a `<column> (wrong type)` column holding exactly the values
that failed to convert, so the GX suites can report type errors with sample values.
File-level problems (unreadable, empty, not UTF-8, wrong delimiter) are raised as
`FileProblem` before GX runs: there is no table to validate.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recaug.data.schemas import SCHEMAS, TS, TableSchema

EXTENSIONS = (".parquet", ".csv")
SUSPECT_DELIMITERS = (";", "\t", "|")


def wrong_type_column(column: str) -> str:
    return f"{column} (wrong type)"


class FileProblem(Exception):
    """A landing file that cannot be read as a table at all."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass
class LandingFile:
    path: Path
    table: str | None  # None when the file name is not one we know

    @property
    def name(self) -> str:
        return self.path.name


def classify(path: Path) -> LandingFile:
    stem, suffix = path.stem, path.suffix.lower()
    if path.is_file() and suffix in EXTENSIONS and stem in SCHEMAS:
        return LandingFile(path, stem)
    return LandingFile(path, None)


def read_table(path: Path, data: bytes) -> pd.DataFrame:
    """Read a landing file as raw as possible: CSV columns stay strings, Parquet keeps its types."""
    if not data:
        raise FileProblem("empty file", "the file is empty (0 bytes)")
    if path.suffix.lower() == ".parquet":
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises many types for damaged files
            raise FileProblem("unreadable parquet", f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileProblem(
            "encoding",
            f"not valid UTF-8: byte {data[exc.start:exc.start + 1]!r} at offset {exc.start} (line {line}): {exc.reason}",
        ) from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise FileProblem("empty file", "the file has no header line") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise FileProblem("malformed csv", f"not parseable as comma-separated values: {exc}") from None
    if len(frame.columns) == 1:
        header = str(frame.columns[0])
        for delimiter in SUSPECT_DELIMITERS:
            if delimiter in header:
                raise FileProblem(
                    "delimiter",
                    f"expected comma-separated values, but the header {header[:80]!r} looks {delimiter!r}-separated",
                )
    return frame


def _coerce_string(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_integer_dtype(values):
        return values.astype("string").astype(object), pd.Series(False, index=values.index)
    if pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        return values.astype(object).where(values.notna(), None), pd.Series(False, index=values.index)

    def ok(v) -> bool:
        return isinstance(v, (str, int, np.integer)) and not isinstance(v, (bool, np.bool_))

    present = values.notna()
    valid = values.map(ok)
    converted = values.where(valid, None).map(lambda v: None if v is None else str(v))
    return converted.astype(object), present & ~valid


def _coerce_number(values: pd.Series, integer: bool) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(np.nan, index=values.index), values.notna()
    numbers = pd.to_numeric(values, errors="coerce")
    if pd.api.types.is_object_dtype(values):
        numbers = numbers.where(~values.map(lambda v: isinstance(v, (bool, np.bool_))))
    numbers = numbers.astype("float64")
    if integer:
        numbers = numbers.where(np.isfinite(numbers) & (numbers == np.floor(numbers)))
    return numbers, values.notna() & numbers.isna()


def _coerce_timestamp(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        return ts.astype(TS), pd.Series(False, index=values.index)
    seconds = pd.to_numeric(values, errors="coerce") if not pd.api.types.is_bool_dtype(values) else None
    out = pd.Series(pd.NaT, index=values.index, dtype=TS)
    if seconds is not None:
        numeric = seconds.notna()
        out[numeric] = pd.to_datetime(seconds[numeric], unit="s", utc=True, errors="coerce")
    else:
        numeric = pd.Series(False, index=values.index)
    text = values.notna() & ~numeric
    if text.any():
        parsed = pd.to_datetime(values[text].astype(str), utc=True, format="mixed", errors="coerce")
        out[text] = parsed
    return out, values.notna() & out.isna()


def coerce(values: pd.Series, dtype: str) -> tuple[pd.Series, pd.Series]:
    """(values in the canonical dtype, mask of present values that did not convert)."""
    if dtype == "string":
        return _coerce_string(values)
    if dtype == TS:
        return _coerce_timestamp(values)
    return _coerce_number(values, integer=dtype == "Int64")


def check_frame(raw: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """The frame the suite validates: canonical-typed columns, wrong-type columns, extras as they came.

    Missing optional columns are added as nulls (absence is allowed); missing required
    columns stay missing so that the column rules report them.
    """
    raw = raw.reset_index(drop=True)
    columns: dict[str, pd.Series] = {}
    for column in schema.columns:
        if column.name in raw.columns:
            converted, invalid = coerce(raw[column.name], column.dtype)
            columns[column.name] = converted
            columns[wrong_type_column(column.name)] = raw[column.name].astype(object).where(invalid, None)
        elif not column.required:
            columns[column.name] = pd.Series([None] * len(raw), index=raw.index, dtype=object)
            if column.dtype == TS:
                columns[column.name] = columns[column.name].astype(TS)
            columns[wrong_type_column(column.name)] = pd.Series([None] * len(raw), index=raw.index, dtype=object)
        else:
            columns[wrong_type_column(column.name)] = pd.Series([None] * len(raw), index=raw.index, dtype=object)
    for extra in raw.columns:
        if extra not in schema.names:
            columns[str(extra)] = raw[extra]
    return pd.DataFrame(columns, index=raw.index)


def expected_columns(schema: TableSchema) -> list[str]:
    """Every column a well-formed check frame has (the 'columns' rule compares against it)."""
    return schema.names + [wrong_type_column(c.name) for c in schema.columns]


def canonical(check: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """The accepted rows in the canonical schema (only called for a valid check frame)."""
    from recaug.data.schemas import conform

    return conform(check[[c for c in schema.names if c in check.columns]], schema)
