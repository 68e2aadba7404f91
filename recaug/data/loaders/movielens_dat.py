"""MovieLens 1M and 10M: `::`-separated `.dat` files (`ratings.dat`, `movies.dat`,
`users.dat` in 1M only, `tags.dat` in 10M only)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from recaug.data.loaders.base import (
    Dataset, DatasetError, Loader, join_values, numeric_column, read_lines, require_dir, require_file, split_lines,
)

# users.dat occupation codes (ML-1M README).
OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)
NO_GENRES = "(no genres listed)"


class MovieLensDatLoader(Loader):
    """ML-1M and ML-10M share one layout; users.dat and tags.dat are used when present."""

    format = "ml-dat"
    description = "MovieLens 1M / 10M folder (ratings.dat, movies.dat, users.dat or tags.dat)"

    def load(self, path: Path) -> Dataset:
        folder = require_dir(path, self.format)
        ratings = read_ratings(require_file(folder, "ratings.dat", "ratings"))
        items = read_movies(require_file(folder, "movies.dat", "movies"))
        tags_path = folder / "tags.dat"
        if tags_path.is_file():
            tags = read_tags(tags_path)
            items["tags"] = items["item_id"].map(tags)
        users_path = folder / "users.dat"
        users = read_users(users_path) if users_path.is_file() else None
        return Dataset.build(ratings, items, users, origin=str(folder))


def read_ratings(path: Path) -> pd.DataFrame:
    """UserID::MovieID::Rating::Timestamp, read by the C parser with ':' as separator
    (each '::' yields an empty field in between), which is ~20x faster than a regex."""
    try:
        raw = pd.read_csv(path, sep=":", header=None, dtype=str, keep_default_na=False, engine="c")
    except pd.errors.ParserError as exc:
        raise DatasetError(f"{path}: malformed '::'-separated ratings: {exc}") from exc
    if raw.shape[1] != 7 or (raw[[1, 3, 5]] != "").any().any():
        bad = 0 if raw.shape[1] != 7 else int((raw[[1, 3, 5]] != "").any(axis=1).to_numpy().argmax())
        raise DatasetError(
            f"{path}, line {bad + 1}: expected UserID::MovieID::Rating::Timestamp, got {':'.join(raw.iloc[bad].astype(str))!r}"
        )
    return pd.DataFrame({
        "user_id": numeric_column(raw, 0, path, "UserID").astype(str),
        "item_id": numeric_column(raw, 2, path, "MovieID").astype(str),
        "rating": numeric_column(raw, 4, path, "Rating", integer=False),
        "timestamp": numeric_column(raw, 6, path, "Timestamp"),
        "event_type": "rating",
    })


def read_movies(path: Path) -> pd.DataFrame:
    rows = []
    for number, (movie_id, title, genres) in split_lines(path, "::", 3):
        if not movie_id.strip().isdigit():
            raise DatasetError(f"{path}, line {number}: MovieID must be an integer, got {movie_id!r}")
        categories = None if genres.strip() in ("", NO_GENRES) else join_values(genres.split("|"))
        rows.append({"item_id": movie_id.strip(), "title": title, "categories": categories})
    return pd.DataFrame(rows, columns=["item_id", "title", "categories"])


def read_tags(path: Path) -> pd.Series:
    """UserID::MovieID::Tag::Timestamp → one '|'-joined string per movie, most used first."""
    movies, tags = [], []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.split("::")
        if len(parts) < 4 or not parts[1].strip().isdigit():
            raise DatasetError(f"{path}, line {number}: expected UserID::MovieID::Tag::Timestamp, got {line[:120]!r}")
        movies.append(parts[1].strip())
        tags.append("::".join(parts[2:-1]))
    return tags_by_item(pd.DataFrame({"item_id": movies, "tag": tags}))


def tags_by_item(df: pd.DataFrame) -> pd.Series:
    """Per item, its distinct tags (case-insensitive) ordered by how often they were used."""
    df = df.assign(key=df["tag"].str.strip().str.lower())
    counts = df.groupby(["item_id", "key"], sort=False).agg(tag=("tag", "first"), n=("tag", "size")).reset_index()
    counts = counts.sort_values(["item_id", "n", "key"], ascending=[True, False, True], kind="stable")
    return counts.groupby("item_id", sort=False)["tag"].agg(lambda s: join_values(s))


def read_users(path: Path) -> pd.DataFrame:
    """UserID::Gender::Age::Occupation::Zip-code. Age is ML-1M's age-group code (1 = under 18,
    otherwise the group's lower bound), kept as the number."""
    rows = []
    for number, (user_id, gender, age, occupation, zip_code) in split_lines(path, "::", 5):
        if not (user_id.isdigit() and age.isdigit() and occupation.isdigit()) or int(occupation) >= len(OCCUPATIONS):
            raise DatasetError(
                f"{path}, line {number}: UserID, Age and Occupation (0-{len(OCCUPATIONS) - 1}) must be integers, "
                f"got {user_id!r}, {age!r}, {occupation!r}"
            )
        rows.append({
            "user_id": user_id, "gender": gender, "age": int(age),
            "occupation": OCCUPATIONS[int(occupation)], "region": zip_code,
        })
    return pd.DataFrame(rows, columns=["user_id", "gender", "age", "occupation", "region"])
