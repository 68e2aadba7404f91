"""Dataset loaders: one module per on-disk format, each returning a canonical `Dataset`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from recaug.data.loaders.amazon import AmazonReviewsLoader
from recaug.data.loaders.base import Dataset, DatasetError, Loader
from recaug.data.loaders.movielens_100k import MovieLens100KLoader
from recaug.data.loaders.movielens_dat import MovieLensDatLoader
from recaug.data.loaders.movielens_latest import MovieLensLatestLoader
from recaug.data.loaders.tabular import CsvLoader, ParquetLoader

LOADERS: dict[str, type[Loader]] = {
    loader.format: loader
    for loader in (
        MovieLens100KLoader, MovieLensDatLoader, MovieLensLatestLoader, AmazonReviewsLoader, CsvLoader, ParquetLoader,
    )
}
# Names people use for the same layouts.
ALIASES = {"ml-1m": "ml-dat", "ml-10m": "ml-dat", "ml-latest-small": "ml-latest", "ml-20m": "ml-latest", "ml-25m": "ml-latest"}


def get_loader(fmt: str, **options: Any) -> Loader:
    name = ALIASES.get(fmt, fmt)
    if name not in LOADERS:
        raise DatasetError(f"unknown dataset format {fmt!r}; expected one of {sorted([*LOADERS, *ALIASES])}")
    loader_cls = LOADERS[name]
    try:
        return loader_cls(loader_cls.Options(**options))
    except ValidationError as exc:
        raise DatasetError(f"format {fmt}: invalid options: {exc}") from exc


def load_dataset(fmt: str, path: str | Path, **options: Any) -> Dataset:
    """Read the dataset at `path` in format `fmt` into the canonical schemas."""
    return get_loader(fmt, **options).load(Path(path))


__all__ = ["Dataset", "DatasetError", "LOADERS", "ALIASES", "Loader", "get_loader", "load_dataset"]
