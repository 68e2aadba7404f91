"""MovieLens 100K: `u.data` (tab-separated ratings), `u.item` (Latin-1, pipe-separated,
19 genre flags) and `u.user`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recaug.data.loaders.base import (
    Dataset, DatasetError, Loader, join_values, numeric_column, require_dir, require_file, split_lines,
)

# Order of the genre flags in u.item (also listed in u.genre, which is used when present).
GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
ITEM_FIELDS = 5  # movie id | title | release date | video release date | IMDb URL


class MovieLens100KLoader(Loader):
    format = "ml-100k"
    description = "MovieLens 100K folder (u.data, u.item, u.user)"

    def load(self, path: Path) -> Dataset:
        folder = require_dir(path, self.format)
        ratings_path = require_file(folder, "u.data", "ratings")
        ratings = read_ratings(ratings_path)
        items = read_items(require_file(folder, "u.item", "movies"), read_genres(folder / "u.genre"))
        users_path = folder / "u.user"
        users = read_users(users_path) if users_path.is_file() else None
        return Dataset.build(ratings, items, users, origin=str(folder))


def read_ratings(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False)
    if raw.shape[1] != 4:
        raise DatasetError(f"{path}: expected 4 tab-separated fields (user, item, rating, timestamp), got {raw.shape[1]}")
    return pd.DataFrame({
        "user_id": numeric_column(raw, 0, path, "user id").astype(str),
        "item_id": numeric_column(raw, 1, path, "item id").astype(str),
        "rating": numeric_column(raw, 2, path, "rating", integer=False),
        "timestamp": numeric_column(raw, 3, path, "timestamp"),
        "event_type": "rating",
    })


def read_genres(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return GENRES
    pairs = [fields for _, fields in split_lines(path, "|", 2)]
    try:
        ordered = sorted(pairs, key=lambda f: int(f[1]))
    except ValueError as exc:
        raise DatasetError(f"{path}: genre indices must be integers ({exc})") from exc
    return tuple(name for name, _ in ordered)


def read_items(path: Path, genres: tuple[str, ...]) -> pd.DataFrame:
    n_fields = ITEM_FIELDS + len(genres)
    rows = []
    for number, fields in split_lines(path, "|", n_fields):
        flags = fields[ITEM_FIELDS:]
        if any(flag not in ("0", "1") for flag in flags):
            raise DatasetError(f"{path}, line {number}: genre flags must be 0 or 1, got {flags}")
        if not fields[0].strip().isdigit():
            raise DatasetError(f"{path}, line {number}: movie id must be an integer, got {fields[0]!r}")
        rows.append({
            "item_id": fields[0].strip(),
            "title": fields[1],
            "categories": join_values(g for g, flag in zip(genres, flags) if flag == "1"),
        })
    return pd.DataFrame(rows, columns=["item_id", "title", "categories"])


def read_users(path: Path) -> pd.DataFrame:
    rows = []
    for number, (user_id, age, gender, occupation, zip_code) in split_lines(path, "|", 5):
        if not user_id.isdigit() or not age.isdigit():
            raise DatasetError(f"{path}, line {number}: user id and age must be integers, got {user_id!r}, {age!r}")
        rows.append({"user_id": user_id, "age": int(age), "gender": gender, "occupation": occupation, "region": zip_code})
    return pd.DataFrame(rows, columns=["user_id", "age", "gender", "occupation", "region"])
