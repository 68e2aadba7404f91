"""What every loader returns (`Dataset`) and the small interface loaders implement."""

from __future__ import annotations

import abc
import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterator

import pandas as pd
from pydantic import BaseModel, ConfigDict

from recaug.data.schemas import INTERACTIONS, ITEMS, MULTI_VALUE_SEPARATOR, USERS, TableSchema, conform
from recaug.errors import RecaugError


class DatasetError(RecaugError):
    """A dataset on disk is missing a file or has a malformed row."""


@dataclass
class Dataset:
    """A dataset in the canonical schemas (`recaug.data.schemas`)."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame

    @classmethod
    def build(cls, interactions: pd.DataFrame, items: pd.DataFrame | None = None,
              users: pd.DataFrame | None = None, origin: str = "dataset") -> "Dataset":
        """Conform the three tables and fill `first_seen` from the first interaction
        when the source does not say when an item or user appeared. Without a users
        file, the users table lists the ids seen in the interactions."""
        inter = _conform(interactions, INTERACTIONS, origin)
        items_df = _conform(items, ITEMS, origin) if items is not None else ITEMS.empty()
        if users is None:
            users = pd.DataFrame({"user_id": inter["user_id"].drop_duplicates()})
        users_df = _conform(users, USERS, origin)
        if len(inter):
            items_df = _fill_first_seen(items_df, inter.groupby("item_id", sort=False)["timestamp"].min())
            users_df = _fill_first_seen(users_df, inter.groupby("user_id", sort=False)["timestamp"].min())
        return cls(inter, items_df, users_df)

    def summary(self) -> dict[str, int]:
        return {
            "interactions": len(self.interactions),
            "items": len(self.items),
            "users": len(self.users),
        }


def _conform(df: pd.DataFrame, schema: TableSchema, origin: str) -> pd.DataFrame:
    try:
        return conform(df, schema)
    except KeyError as exc:
        raise DatasetError(f"{origin}: {exc.args[0]}") from exc
    except (ValueError, TypeError) as exc:
        raise DatasetError(f"{origin}: cannot convert {schema.name} to the canonical schema: {exc}") from exc


def _fill_first_seen(table: pd.DataFrame, first_event: pd.Series) -> pd.DataFrame:
    key = table.columns[0]
    derived = table[key].map(first_event)
    table["first_seen"] = table["first_seen"].fillna(derived)
    return table


class LoaderOptions(BaseModel):
    """Options shared by every loader; subclasses add their own."""

    model_config = ConfigDict(extra="forbid")


class Loader(abc.ABC):
    """Reads one on-disk dataset format into a `Dataset`."""

    format: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type[LoaderOptions]] = LoaderOptions

    def __init__(self, options: LoaderOptions | None = None):
        self.options = options or self.Options()

    @abc.abstractmethod
    def load(self, path: Path) -> Dataset:
        """Read the dataset stored at `path` (a folder or a file)."""


# Helpers shared by the format modules.

def require_file(folder: Path, name: str, what: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise DatasetError(f"{path}: missing {what} file (expected {name!r} in {folder})")
    return path


def require_dir(path: Path, fmt: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder (format {fmt})")
    if not path.is_dir():
        raise DatasetError(f"{path}: format {fmt} expects a folder")
    return path


def open_text(path: Path, encoding: str = "utf-8") -> io.TextIOBase:
    """Open a (possibly gzipped) text file."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def read_lines(path: Path, encodings: tuple[str, ...] = ("utf-8", "latin-1")) -> list[str]:
    """All lines of a small text file, decoded with the first encoding that works."""
    data = path.read_bytes()
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - latin-1 decodes any byte string
        raise DatasetError(f"{path}: cannot decode as any of {encodings}")
    return text.splitlines()


def split_lines(path: Path, sep: str, n_fields: int, min_fields: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for each non-empty line; a wrong field count is an error."""
    min_fields = n_fields if min_fields is None else min_fields
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split(sep)
        if not (min_fields <= len(fields) <= n_fields):
            expected = n_fields if min_fields == n_fields else f"{min_fields}-{n_fields}"
            raise DatasetError(
                f"{path}, line {number}: expected {expected} {sep!r}-separated fields, got {len(fields)}: {line[:120]!r}"
            )
        yield number, fields


def numeric_column(df: pd.DataFrame, column: str | int, path: Path, name: str, first_line: int = 1,
                   integer: bool = True) -> pd.Series:
    """Parse one column as numbers; the first unparsable value is reported by line."""
    values = pd.to_numeric(df[column], errors="coerce")
    bad = values.isna()
    if integer:
        bad |= values.notna() & (values % 1 != 0)
    if bad.any():
        position = int(bad.to_numpy().argmax())
        raise DatasetError(
            f"{path}, line {position + first_line}: column {name!r} must be {'an integer' if integer else 'a number'}, "
            f"got {df[column].iloc[position]!r}"
        )
    return values.astype("int64") if integer else values.astype("float64")


def join_values(values, separator: str = MULTI_VALUE_SEPARATOR) -> str | None:
    """Join multi-valued text (genres, tags, categories) the canonical way, dropping
    blanks, duplicates (case-insensitive) and the separator inside values."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        if value is None:
            continue
        text = str(value).replace(separator, "/").strip()
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
    return separator.join(out) if out else None
