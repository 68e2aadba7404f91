"""Generic CSV or Parquet tables with a column mapping (canonical name = source name)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field

from recaug.data.loaders.base import Dataset, DatasetError, Loader, LoaderOptions
from recaug.data.schemas import INTERACTIONS, ITEMS, SCHEMAS, USERS

SUFFIXES = {"csv": (".csv", ".csv.gz"), "parquet": (".parquet", ".pq")}


class TabularOptions(LoaderOptions):
    mapping: dict[str, str] = Field(
        default_factory=dict,
        description="canonical column → source column, applied to every table (e.g. user_id=uid)",
    )
    time_unit: Literal["s", "ms", "us", "ns"] = Field("s", description="unit of numeric timestamps")
    separator: str = Field(",", description="CSV field separator")


class TabularLoader(Loader):
    """A file of interactions, or a folder with interactions.*, items.* and users.*."""

    file_format: str = "csv"
    Options = TabularOptions

    def load(self, path: Path) -> Dataset:
        if path.is_file():
            tables = {"interactions": path}
        elif path.is_dir():
            tables = {name: self._find(path, name) for name in SCHEMAS}
            if tables["interactions"] is None:
                raise DatasetError(f"{path}: missing interactions file (interactions{'/'.join(SUFFIXES[self.file_format])})")
        else:
            raise DatasetError(f"{path}: no such file or folder (format {self.format})")
        frames = {name: self._read(file, SCHEMAS[name]) for name, file in tables.items() if file is not None}
        return Dataset.build(frames["interactions"], frames.get("items"), frames.get("users"), origin=str(path))

    def _find(self, folder: Path, name: str) -> Path | None:
        for suffix in SUFFIXES[self.file_format]:
            if (folder / f"{name}{suffix}").is_file():
                return folder / f"{name}{suffix}"
        return None

    def _read(self, path: Path, schema) -> pd.DataFrame:
        try:
            if self.file_format == "csv":
                df = pd.read_csv(path, sep=self.options.separator, dtype=str, keep_default_na=False, na_values=[""])
            else:
                df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow and the CSV parser raise many types
            raise DatasetError(f"{path}: cannot read {self.file_format}: {exc}") from exc
        renames = {}
        for canonical, source in self.options.mapping.items():
            if canonical not in INTERACTIONS.names + ITEMS.names + USERS.names:
                raise DatasetError(f"mapping {canonical}={source}: {canonical!r} is not a canonical column")
            if source in df.columns:
                renames[source] = canonical
        df = df.rename(columns=renames)
        missing = [c for c in schema.required if c not in df.columns]
        if missing:
            hint = ", ".join(f"--map {c}=<column>" for c in missing)
            raise DatasetError(f"{path}: missing required column(s) {missing}; columns are {list(df.columns)} (use {hint})")
        for column in [c.name for c in schema.columns if c.dtype.startswith("datetime") and c.name in df.columns]:
            df[column] = self._timestamps(df[column], path, column)
        for column in [c.name for c in schema.columns if c.dtype in ("float64", "Int64") and c.name in df.columns]:
            df[column] = _numbers(df[column], path, column)
        for key in schema.key:
            if key.endswith("_id") and df[key].isna().any():
                row = int(df[key].isna().to_numpy().argmax())
                raise DatasetError(f"{path}, row {row + 1}: column {key!r} is empty")
        return df

    def _timestamps(self, values: pd.Series, path: Path, column: str) -> pd.Series:
        numbers = pd.to_numeric(values, errors="coerce")
        try:
            if numbers.notna().sum() == values.notna().sum():
                return pd.to_datetime(numbers, unit=self.options.time_unit, utc=True)
            return pd.to_datetime(values, utc=True, format="mixed")
        except (ValueError, TypeError, OverflowError):
            parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
            row = int((parsed.isna() & values.notna()).to_numpy().argmax())
            raise DatasetError(f"{path}, row {row + 1}: column {column!r} is not a timestamp: {values.iloc[row]!r}") from None


def _numbers(values: pd.Series, path: Path, column: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise DatasetError(f"{path}, row {row + 1}: column {column!r} must be numeric, got {values.iloc[row]!r}")
    return numbers


class CsvLoader(TabularLoader):
    format = "csv"
    description = "CSV file or folder (interactions.csv, items.csv, users.csv) with --map canonical=source"
    file_format = "csv"


class ParquetLoader(TabularLoader):
    format = "parquet"
    description = "Parquet file or folder (interactions.parquet, items..., users...) with --map canonical=source"
    file_format = "parquet"
