"""Reading landing files and turning them into frames Great Expectations can judge.

A landing file arrives as CSV or Parquet with whatever types its producer chose. The
*check frame* holds every column converted to its canonical type (values that do not
convert become null) plus a `<column> (wrong type)` column holding exactly the values
that failed to convert, so the GX suites can report type errors with sample values, and
for time columns a `<column> (out of range)` column holding the dates and epoch numbers
that are real but beyond what a timestamp can hold (year 1, 9999-12-31, milliseconds
read as seconds). Converting never raises: every value lands in one of those columns.
File-level problems (too big, too many columns, unreadable, empty, not UTF-8, NUL
bytes, wrong delimiter) are raised as `FileProblem` before GX runs, from the size, the
header or the Parquet metadata where possible: there is no table to validate.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from recaug.data.schemas import SCHEMAS, TS, TS_FIRST, TS_LAST, TableSchema
from recaug.validate import entries
from recaug.validate.config import ValidateConfig

EXTENSIONS = (".parquet", ".csv")
SUSPECT_DELIMITERS = (";", "\t", "|")
HEADER_PROBE_BYTES = 1 << 20
EPOCH_UNITS = {"milliseconds": 1e3, "microseconds": 1e6, "nanoseconds": 1e9}


def wrong_type_column(column: str) -> str:
    return f"{column} (wrong type)"


def out_of_range_column(column: str) -> str:
    return f"{column} (out of range)"


def base_column(check_column: str) -> str:
    """The landing column a check-frame column reports on."""
    return check_column.removesuffix(wrong_type_column("")).removesuffix(out_of_range_column(""))


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
    if entries.kind_of(path) == entries.FILE and suffix in EXTENSIONS and stem in SCHEMAS:
        return LandingFile(path, stem)
    return LandingFile(path, None)


def check_size(size: int, config: ValidateConfig) -> None:
    """Refuse a file over the size limit before a byte of it is parsed."""
    if size > config.max_file_bytes:
        raise FileProblem(
            "file size", f"{size:,} bytes, over the limit of {config.max_file_bytes:,} (validate.max_file_bytes); not read"
        )


def read_table(path: Path, data: bytes, config: ValidateConfig | None = None) -> pd.DataFrame:
    """Read a landing file as raw as possible: CSV columns stay strings, Parquet keeps its types."""
    config = config or ValidateConfig()
    if not data:
        raise FileProblem("empty file", "the file is empty (0 bytes)")
    if path.suffix.lower() == ".parquet":
        return _read_parquet(data, config)
    return _read_csv(data, config)


def _read_parquet(data: bytes, config: ValidateConfig) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        metadata = parquet.metadata
    except Exception as exc:  # pyarrow raises many types for damaged files
        raise FileProblem("unreadable parquet", f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    _check_column_count(metadata.num_columns, config)
    declared = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if declared > config.max_uncompressed_bytes:
        raise FileProblem(
            "file size",
            f"declares {declared:,} bytes once decompressed, over the limit of {config.max_uncompressed_bytes:,} "
            "(validate.max_uncompressed_bytes); not read",
        )
    names = parquet.schema_arrow.names
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise FileProblem("duplicate columns", f"column name(s) {repeated} appear more than once")
    table = _read_bounded(parquet, config.max_uncompressed_bytes)
    for name, column in zip(table.column_names, table.columns):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            try:
                column.validate(full=True)
            except pa.ArrowInvalid as exc:
                raise FileProblem("encoding", f"column {name!r} holds text that is not valid UTF-8 ({exc})") from None
    try:
        return table.to_pandas()
    except Exception as exc:
        raise FileProblem("unreadable parquet", f"its columns cannot be converted ({type(exc).__name__}: {exc})") from None


def _read_bounded(parquet, limit: int):
    """The file's table, read in slices so that data decompressing past `limit` bytes
    (repeated values compress to almost nothing) is refused before it fills memory."""
    import pyarrow as pa

    batches, decoded = [], 0
    try:
        for batch in parquet.iter_batches(batch_size=65_536):
            decoded += batch.nbytes
            if decoded > limit:
                raise FileProblem(
                    "file size",
                    f"decompresses to more than {limit:,} bytes (validate.max_uncompressed_bytes); reading stopped",
                )
            batches.append(batch)
        return pa.Table.from_batches(batches, schema=parquet.schema_arrow)
    except FileProblem:
        raise
    except Exception as exc:  # pyarrow raises many types for damaged files
        raise FileProblem("unreadable parquet", f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None


def _read_csv(data: bytes, config: ValidateConfig) -> pd.DataFrame:
    header = data[:HEADER_PROBE_BYTES].split(b"\n", 1)[0]
    if len(header) == HEADER_PROBE_BYTES:
        raise FileProblem("too many columns", f"the header line is longer than {HEADER_PROBE_BYTES:,} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileProblem(
            "encoding",
            f"not valid UTF-8: byte {data[exc.start:exc.start + 1]!r} at offset {exc.start} (line {line}): {exc.reason}",
        ) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data[:nul].count(b"\n") + 1
        raise FileProblem(
            "control characters", f"NUL byte at offset {nul} (line {line}); CSV readers silently cut values there"
        )
    _check_column_count(len(next(csv.reader([text.split("\n", 1)[0]]), [])), config)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise FileProblem("empty file", "the file has no header line") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise FileProblem("malformed csv", f"not parseable as comma-separated values: {exc}") from None
    if len(frame.columns) == 1:
        header_text = str(frame.columns[0])
        for delimiter in SUSPECT_DELIMITERS:
            if delimiter in header_text:
                raise FileProblem(
                    "delimiter",
                    f"expected comma-separated values, but the header {header_text[:80]!r} looks {delimiter!r}-separated",
                )
    return frame


def _check_column_count(count: int, config: ValidateConfig) -> None:
    if count > config.max_columns:
        raise FileProblem("too many columns", f"{count:,} columns, over the limit of {config.max_columns} (validate.max_columns)")


@dataclass
class Coerced:
    """A landing column in its canonical dtype, and masks of the present values that did not fit."""

    values: pd.Series
    wrong_type: pd.Series
    out_of_range: pd.Series | None = None  # time columns only


def _nothing_flagged(index: pd.Index) -> pd.Series:
    return pd.Series(False, index=index)


def _coerce_string(values: pd.Series) -> Coerced:
    if pd.api.types.is_integer_dtype(values):
        return Coerced(values.astype("string").astype(object), _nothing_flagged(values.index))
    if pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        return Coerced(values.astype(object).where(values.notna(), None), _nothing_flagged(values.index))

    def ok(v) -> bool:
        return isinstance(v, (str, int, np.integer)) and not isinstance(v, (bool, np.bool_))

    present = values.notna()
    valid = values.map(ok)
    converted = values.where(valid, None).map(lambda v: None if v is None else str(v))
    return Coerced(converted.astype(object), present & ~valid)


def _coerce_number(values: pd.Series, integer: bool) -> Coerced:
    """Numbers (also written as text); booleans and +-inf are not numbers here."""
    if pd.api.types.is_bool_dtype(values):
        return Coerced(pd.Series(np.nan, index=values.index), values.notna())
    numbers = pd.to_numeric(values, errors="coerce")
    if pd.api.types.is_object_dtype(values):
        numbers = numbers.where(~values.map(lambda v: isinstance(v, (bool, np.bool_))))
    numbers = numbers.astype("float64")
    numbers = numbers.where(np.isfinite(numbers))
    if integer:
        numbers = numbers.where(numbers == np.floor(numbers))
    return Coerced(numbers, values.notna() & numbers.isna())


def _coerce_timestamp(values: pd.Series) -> Coerced:
    """UTC timestamps from datetimes of any unit, epoch seconds or date text, never raising.

    A value that is a real date or number but outside TS_FIRST..TS_LAST is out of range
    (not a wrong type), so the report says 'timestamp range' with the value itself."""
    index = values.index
    out = pd.Series(pd.NaT, index=index, dtype=TS)
    out_of_range = _nothing_flagged(index)
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        fits = ts.notna() & (ts >= TS_FIRST) & (ts <= TS_LAST)
        out[fits] = ts[fits].astype(TS)
        return Coerced(out, _nothing_flagged(index), values.notna() & ~fits)
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_timedelta64_dtype(values):
        return Coerced(out, values.notna(), out_of_range)
    seconds = pd.to_numeric(values, errors="coerce").astype("float64")
    if pd.api.types.is_object_dtype(values):
        seconds = seconds.where(~values.map(lambda v: isinstance(v, (bool, np.bool_))))
    numeric = seconds.notna()
    finite = numeric & np.isfinite(seconds)
    fits = finite & (seconds >= TS_FIRST.timestamp()) & (seconds <= TS_LAST.timestamp())
    out[fits] = pd.to_datetime(seconds[fits], unit="s", utc=True)
    out_of_range |= finite & ~fits
    text = values.notna() & ~numeric & values.map(_may_be_a_time)
    if text.any():
        as_text = values[text].map(str)
        out[text] = pd.to_datetime(as_text, utc=True, format="mixed", errors="coerce")
        unparsed = as_text[out[text].isna()]
        if len(unparsed):
            out_of_range[unparsed.index] = unparsed.map(_is_date_beyond_range).astype(bool)
    return Coerced(out, values.notna() & out.isna() & ~out_of_range, out_of_range)


def _may_be_a_time(value) -> bool:
    """Text and date/datetime objects may hold a time; a time of day, duration, bytes or
    container never does (str() of them would parse as today's date)."""
    if isinstance(value, (dt.time, dt.timedelta, np.timedelta64)):
        return False
    return isinstance(value, (str, dt.date, np.datetime64))


def _is_date_beyond_range(text: str) -> bool:
    """True for ISO dates Python can read but a timestamp cannot hold ('0001-01-01', '9999-12-31')."""
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return False
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return not TS_FIRST.to_pydatetime() <= parsed <= TS_LAST.to_pydatetime()


def coerce(values: pd.Series, dtype: str) -> Coerced:
    """The column in the canonical dtype plus masks of what did not convert."""
    if dtype == "string":
        return _coerce_string(values)
    if dtype == TS:
        return _coerce_timestamp(values)
    return _coerce_number(values, integer=dtype == "Int64")


def epoch_unit_hint(values: pd.Series, earliest: pd.Timestamp, latest: pd.Timestamp) -> str | None:
    """'milliseconds' (etc.) when most numeric values are plausible times only in that unit."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return None
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    numbers = numbers[np.isfinite(numbers)]
    if numbers.empty:
        return None
    low, high = earliest.timestamp(), latest.timestamp()
    if numbers.between(low, high).mean() >= 0.5:
        return None
    for unit, factor in EPOCH_UNITS.items():
        if (numbers / factor).between(low, high).mean() >= 0.5:
            return unit
    return None


def check_frame(raw: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """The frame the suite validates: canonical-typed columns, wrong-type (and out-of-range)
    columns, extras as they came.

    Missing optional columns are added as nulls (absence is allowed); missing required
    columns stay missing so that the column rules report them.
    """
    raw = raw.reset_index(drop=True)
    empty = pd.Series([None] * len(raw), index=raw.index, dtype=object)
    columns: dict[str, pd.Series] = {}
    for column in schema.columns:
        if column.name in raw.columns:
            original = raw[column.name].astype(object)
            coerced = coerce(raw[column.name], column.dtype)
            columns[column.name] = coerced.values
            columns[wrong_type_column(column.name)] = original.where(coerced.wrong_type, None).map(_reportable)
            if column.dtype == TS:
                columns[out_of_range_column(column.name)] = original.where(coerced.out_of_range, None).map(_reportable)
            continue
        if not column.required:
            columns[column.name] = empty.astype(TS) if column.dtype == TS else empty.copy()
        columns[wrong_type_column(column.name)] = empty.copy()
        if column.dtype == TS:
            columns[out_of_range_column(column.name)] = empty.copy()
    for extra in raw.columns:
        if extra not in schema.names:
            columns[str(extra)] = raw[extra]
    return pd.DataFrame(columns, index=raw.index)


def _reportable(value):
    """An offending value as GX can serialize it in results and data docs: numbers and text
    as they are, anything else (durations, bytes, structs, year-1 dates) as its text."""
    if value is None or isinstance(value, (str, bool, int, float, np.bool_, np.integer, np.floating)):
        return value
    return str(value)


def expected_columns(schema: TableSchema) -> list[str]:
    """Every column a well-formed check frame has (the 'columns' rule compares against it)."""
    extra = [wrong_type_column(c.name) for c in schema.columns]
    extra += [out_of_range_column(c.name) for c in schema.columns if c.dtype == TS]
    return schema.names + extra


def canonical(check: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """The accepted rows in the canonical schema (only called for a valid check frame)."""
    from recaug.data.schemas import conform

    return conform(check[[c for c in schema.names if c in check.columns]], schema)
