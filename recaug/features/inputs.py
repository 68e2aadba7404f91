"""Reads and checks the tables the fusion stage fuses (curated, augment, embeddings).

Every problem is reported with the file, the column or row and the rule broken, so a
bad upstream table stops the stage before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from recaug import io
from recaug.data import schemas
from recaug.features.errors import FeatureInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from recaug.settings import Settings


@dataclass(frozen=True)
class FusionInputs:
    """Every input of the fusion stage, conformed to the canonical schemas."""

    interactions: "pd.DataFrame"  # observed + (optionally) augmented, sorted by user, time
    items: "pd.DataFrame"
    item_enrichment: "pd.DataFrame | None"
    item_embeddings: "Embeddings | None"
    user_embeddings: "Embeddings | None"
    users: "pd.DataFrame"


def input_urls(settings: "Settings") -> dict[str, str]:
    """The files the stage may read, by role (their hashes decide whether to rebuild)."""
    lake = settings.lake
    urls = {
        "interactions": lake.interactions,
        "items": lake.items,
        "users": lake.users,
        "item_enrichment": lake.url("augment", "item_enrichment.parquet"),
        "item_embeddings": lake.url("embeddings", "items.parquet"),
        "user_embeddings": lake.url("embeddings", "users.parquet"),
    }
    if settings.features.include_augmented:
        urls["augmented_interactions"] = lake.url("augment", "interactions.parquet")
    return urls


def load_inputs(settings: "Settings") -> FusionInputs:
    import pandas as pd

    urls = input_urls(settings)
    if not io.exists(urls["interactions"]):
        raise FeatureInputError(f"{urls['interactions']}: not found; run `recaug ingest` first")
    interactions = _interactions(urls["interactions"], expect_source=schemas.OBSERVED)
    if "augmented_interactions" in urls and io.exists(urls["augmented_interactions"]):
        augmented = _interactions(urls["augmented_interactions"], expect_source=schemas.AUGMENTED)
        interactions = pd.concat([interactions, augmented], ignore_index=True)
    if interactions.empty:
        raise FeatureInputError(f"{urls['interactions']}: no interactions to build features from")
    interactions = interactions.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)

    items = _conformed(urls["items"], schemas.ITEMS) if io.exists(urls["items"]) else schemas.ITEMS.empty()
    users = _conformed(urls["users"], schemas.USERS) if io.exists(urls["users"]) else schemas.USERS.empty()
    enrichment = _optional(urls["item_enrichment"], ["item_id", "keywords", "description"])
    item_embeddings = _embeddings(urls["item_embeddings"], "item_id")
    user_embeddings = _embeddings(urls["user_embeddings"], "user_id")
    return FusionInputs(interactions, items, enrichment, item_embeddings, user_embeddings, users)


def _read(url: str) -> "pd.DataFrame":
    try:
        return io.read_parquet(url)
    except Exception as exc:  # pyarrow raises many types for a damaged file
        raise FeatureInputError(f"{url}: cannot be read as Parquet ({exc})") from exc


def _conformed(url: str, schema: schemas.TableSchema) -> "pd.DataFrame":
    return schemas.read_conformed(url, schema, FeatureInputError)


def _interactions(url: str, expect_source: str) -> "pd.DataFrame":
    df = _conformed(url, schemas.INTERACTIONS)
    wrong = df.index[df["source"] != expect_source]
    if len(wrong):
        row = int(wrong[0])
        raise FeatureInputError(
            f"{url}: row {row} column 'source' is {df.at[row, 'source']!r}; every row of this table must be {expect_source!r}"
        )
    return df


def _optional(url: str, required: list[str]) -> "pd.DataFrame | None":
    if not io.exists(url):
        return None
    df = _read(url)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise FeatureInputError(f"{url}: missing required column(s) {missing}")
    return df


def _embeddings(url: str, key: str) -> "Embeddings | None":
    import numpy as np

    df = _optional(url, [key, "embedding", "encoder"])
    if df is None:
        return None
    lengths = df["embedding"].map(lambda v: -1 if v is None else len(v)).to_numpy()
    if len(df):
        bad = np.flatnonzero((lengths != lengths[0]) | (lengths <= 0))
        if len(bad):
            row = int(bad[0])
            raise FeatureInputError(
                f"{url}: row {row} column 'embedding' has length {int(lengths[row])}, expected {int(lengths[0])} "
                "like row 0 (embeddings must be non-empty and fixed-length)"
            )
    vectors = (
        np.stack([np.asarray(v, dtype=np.float32) for v in df["embedding"]])
        if len(df) else np.zeros((0, 0), dtype=np.float32)
    )
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1)) if len(df) else []
    if len(bad):
        raise FeatureInputError(f"{url}: row {int(bad[0])} column 'embedding' holds NaN or infinity")
    ids = df[key].astype("string")
    if ids.isna().any() or ids.duplicated().any():
        row = int(np.flatnonzero(ids.isna().to_numpy() | ids.duplicated().to_numpy())[0])
        raise FeatureInputError(f"{url}: row {row} column {key!r} is empty or repeated (one embedding per id)")
    versions = df["encoder_version"].fillna("").astype(str) if "encoder_version" in df.columns else [""] * len(df)
    encoders = [f"{name}@{version}" if version else str(name) for name, version in zip(df["encoder"], versions)]
    return Embeddings(ids=ids.tolist(), encoders=encoders, vectors=vectors)


@dataclass(frozen=True)
class Embeddings:
    """Vectors as one float32 matrix [n, dim], row i belonging to ids[i]."""

    ids: list[str]
    encoders: list[str]
    vectors: "np.ndarray"

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1]) if self.vectors.ndim == 2 and len(self.vectors) else 0

    def positions(self) -> dict[str, int]:
        return {key: i for i, key in enumerate(self.ids)}
