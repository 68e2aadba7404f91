"""Amazon reviews (McAuley lab) as JSON lines: a reviews file and an item-metadata file,
in the 2018 field names (reviewerID, asin, overall, unixReviewTime in seconds) or the
2023 ones (user_id, parent_asin, rating, timestamp in milliseconds). Files may be gzipped."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pandas as pd
from pydantic import Field

from recaug.data.loaders.base import Dataset, DatasetError, Loader, LoaderOptions, join_values, open_text

log = logging.getLogger(__name__)

JSON_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
PRICE = re.compile(r"\d+(?:[.,]\d+)*")
LOG_EVERY = 1_000_000


class AmazonOptions(LoaderOptions):
    reviews: str | None = Field(None, description="reviews file (default: the JSON-lines file not named meta*)")
    meta: str | None = Field(None, description="metadata file (default: the JSON-lines file named meta*)")


class AmazonReviewsLoader(Loader):
    format = "amazon"
    description = "Amazon reviews JSON lines, 2018 or 2023 fields (reviews file + meta_* file)"
    Options = AmazonOptions

    def load(self, path: Path) -> Dataset:
        reviews_path, meta_path = self._files(path)
        interactions = read_reviews(reviews_path)
        items = read_meta(meta_path) if meta_path else None
        if items is not None:
            missing = ~interactions["item_id"].isin(items["item_id"])
            if missing.any():
                log.warning("%s: %d reviews name items without metadata", meta_path, int(missing.sum()))
        return Dataset.build(interactions, items, None, origin=str(reviews_path))

    def _files(self, path: Path) -> tuple[Path, Path | None]:
        if path.is_file():
            return path, self._resolve(path.parent, self.options.meta)
        if not path.is_dir():
            raise DatasetError(f"{path}: no such file or folder (format {self.format})")
        candidates = sorted(p for p in path.iterdir() if p.name.endswith(JSON_SUFFIXES))
        metas = [p for p in candidates if p.name.startswith("meta")]
        reviews = [p for p in candidates if not p.name.startswith("meta")]
        reviews_path = self._resolve(path, self.options.reviews) or _only(reviews, path, "reviews")
        meta_path = self._resolve(path, self.options.meta) or (_only(metas, path, "metadata") if metas else None)
        return reviews_path, meta_path

    @staticmethod
    def _resolve(folder: Path, name: str | None) -> Path | None:
        if name is None:
            return None
        path = Path(name) if Path(name).is_absolute() else folder / name
        if not path.is_file():
            raise DatasetError(f"{path}: no such file")
        return path


def _only(paths: list[Path], folder: Path, what: str) -> Path:
    if len(paths) != 1:
        found = [p.name for p in paths] or "none"
        raise DatasetError(
            f"{folder}: expected exactly one {what} JSON-lines file ({'/'.join(JSON_SUFFIXES)}), found {found}; "
            f"name it with the --option {'reviews' if what == 'reviews' else 'meta'}=FILE option"
        )
    return paths[0]


def iter_records(path: Path):
    """Yield (line number, dict) for each non-empty line."""
    with open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}, line {number}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
            if not isinstance(record, dict):
                raise DatasetError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
            if number % LOG_EVERY == 0:
                log.info("%s: read %d lines", path.name, number)
            yield number, record


def read_reviews(path: Path) -> pd.DataFrame:
    users, items, ratings, millis = [], [], [], []
    for number, rec in iter_records(path):
        if "reviewerID" in rec:  # 2018
            user, item, rating, ts = rec.get("reviewerID"), rec.get("asin"), rec.get("overall"), rec.get("unixReviewTime")
            scale, fields = 1000, "reviewerID, asin, unixReviewTime"
        else:  # 2023: the metadata is keyed by parent_asin
            user, item, rating = rec.get("user_id"), rec.get("parent_asin") or rec.get("asin"), rec.get("rating")
            ts = rec.get("timestamp")
            scale, fields = 1, "user_id, parent_asin, timestamp"
        if not user or not item or not isinstance(ts, (int, float)) or isinstance(ts, bool):
            raise DatasetError(f"{path}, line {number}: a review needs {fields} (numeric time); got {sorted(rec)}")
        if rating is not None and not isinstance(rating, (int, float)):
            raise DatasetError(f"{path}, line {number}: rating must be a number, got {rating!r}")
        users.append(str(user))
        items.append(str(item))
        ratings.append(rating)
        millis.append(round(ts * scale))
    return pd.DataFrame({
        "user_id": users,
        "item_id": items,
        "rating": pd.array(ratings, dtype="Float64").astype("float64"),
        "timestamp": pd.to_datetime(pd.Series(millis, dtype="int64"), unit="ms", utc=True),
        "event_type": "review",
    })


def read_meta(path: Path) -> pd.DataFrame:
    rows = []
    for number, rec in iter_records(path):
        item = rec.get("parent_asin") or rec.get("asin")
        if not item:
            raise DatasetError(f"{path}, line {number}: metadata needs parent_asin (2023) or asin (2018)")
        details = rec.get("details") if isinstance(rec.get("details"), dict) else {}
        categories = _as_list(rec.get("categories")) or _as_list(rec.get("category"))
        main = rec.get("main_category") or rec.get("main_cat")
        rows.append({
            "item_id": str(item),
            "title": str(rec.get("title") or ""),
            "description": " ".join(_as_list(rec.get("description")) + _as_list(rec.get("features")) + _as_list(rec.get("feature"))) or None,
            "categories": join_values(([main] if main else []) + categories),
            "tags": join_values(_as_list(rec.get("tags"))),
            "brand": rec.get("brand") or rec.get("store") or details.get("Brand") or None,
            "price": parse_price(rec.get("price"), path, number),
        })
    items = pd.DataFrame(rows, columns=["item_id", "title", "description", "categories", "tags", "brand", "price"])
    return items.drop_duplicates("item_id", keep="last")


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    return [str(value).strip()] if str(value).strip() else []


def parse_price(value, path: Path, number: int) -> float | None:
    """2023 prices are numbers; 2018 prices are strings like "$12.99" or "$5.00 - $9.00"
    (the lower bound is kept). Unparsable strings (HTML fragments in 2018) become null."""
    if value is None or value == "" or value == "None":
        return None
    if isinstance(value, bool):
        raise DatasetError(f"{path}, line {number}: price must be a number or a string, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    match = PRICE.search(str(value)) if len(str(value)) < 40 else None
    return float(match.group(0).replace(",", "")) if match else None
