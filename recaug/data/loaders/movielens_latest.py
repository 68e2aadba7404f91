"""MovieLens "latest" / 20M / 25M CSV layout: `ratings.csv`, `movies.csv`, optional `tags.csv`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recaug.data.loaders.base import Dataset, DatasetError, Loader, join_values, numeric_column, require_dir, require_file
from recaug.data.loaders.movielens_dat import NO_GENRES, tags_by_item


class MovieLensLatestLoader(Loader):
    format = "ml-latest"
    description = "MovieLens latest / latest-small / 20M / 25M folder (ratings.csv, movies.csv, tags.csv)"

    def load(self, path: Path) -> Dataset:
        folder = require_dir(path, self.format)
        ratings_path = require_file(folder, "ratings.csv", "ratings")
        raw = read_csv(ratings_path, ["userId", "movieId", "rating", "timestamp"])
        interactions = pd.DataFrame({
            "user_id": numeric_column(raw, "userId", ratings_path, "userId", first_line=2).astype(str),
            "item_id": numeric_column(raw, "movieId", ratings_path, "movieId", first_line=2).astype(str),
            "rating": numeric_column(raw, "rating", ratings_path, "rating", first_line=2, integer=False),
            "timestamp": numeric_column(raw, "timestamp", ratings_path, "timestamp", first_line=2),
            "event_type": "rating",
        })
        movies_path = require_file(folder, "movies.csv", "movies")
        movies = read_csv(movies_path, ["movieId", "title", "genres"])
        genres = movies["genres"].fillna("")
        items = pd.DataFrame({
            "item_id": numeric_column(movies, "movieId", movies_path, "movieId", first_line=2).astype(str),
            "title": movies["title"],
            "categories": [None if g in ("", NO_GENRES) else join_values(g.split("|")) for g in genres],
        })
        tags_path = folder / "tags.csv"
        if tags_path.is_file():
            tags = read_csv(tags_path, ["userId", "movieId", "tag", "timestamp"])
            tags["item_id"] = numeric_column(tags, "movieId", tags_path, "movieId", first_line=2).astype(str)
            items["tags"] = items["item_id"].map(tags_by_item(tags.dropna(subset=["tag"])))
        return Dataset.build(interactions, items, None, origin=str(folder))


def read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: malformed CSV: {exc}") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; header is {list(df.columns)}")
    return df
