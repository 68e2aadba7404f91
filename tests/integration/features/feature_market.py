"""A small marketplace, as the upstream stages would write it into the lake (docs/STAGES.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recaug import io

DAY = pd.Timedelta(days=1)
START = pd.Timestamp("2026-01-05 08:00", tz="UTC")
DIM = 16


def marketplace(n_users: int = 12, n_items: int = 30, n_events: int = 400, days: int = 6, seed: int = 3):
    """Curated interactions/items, augmented interactions, enrichment and embeddings."""
    rng = np.random.default_rng(seed)
    users = [f"u{i:03d}" for i in range(n_users)]
    items = [f"i{i:03d}" for i in range(n_items)]
    categories = ["books", "games", "music", "garden", "toys"]
    offsets = np.sort(rng.uniform(0, days * 86400, n_events))
    interactions = pd.DataFrame({
        "user_id": rng.choice(users, n_events),
        "item_id": rng.choice(items, n_events, p=np.linspace(2, 1, n_items) / np.linspace(2, 1, n_items).sum()),
        "timestamp": START + pd.to_timedelta(offsets.round(), unit="s"),
        "event_type": "click",
        "rating": np.where(rng.random(n_events) < 0.5, rng.integers(1, 6, n_events).astype(float), np.nan),
        "source": "observed",
        "confidence": 1.0,
    }).drop_duplicates(["user_id", "item_id", "timestamp"])
    catalogue = pd.DataFrame({
        "item_id": items,
        "title": [f"Item {i}" for i in range(n_items)],
        "description": [f"a thing number {i}" for i in range(n_items)],
        "tags": "",
        "categories": [f"{categories[i % 5]}|{categories[(i + 2) % 5]}" for i in range(n_items)],
        "brand": [f"brand{i % 3}" for i in range(n_items)],
        "price": np.round(rng.uniform(1, 100, n_items), 2),
        "first_seen": START - DAY,
    })
    augmented = pd.DataFrame({
        "user_id": rng.choice(users, 40),
        "item_id": rng.choice(items, 40),
        "timestamp": START + pd.to_timedelta(rng.uniform(0, days * 86400, 40).round(), unit="s"),
        "event_type": "click", "rating": np.nan, "source": "augmented",
        "confidence": rng.uniform(0.3, 1.0, 40),
    })
    enrichment = pd.DataFrame({
        "item_id": items, "description": "enriched", "keywords": [f"kw{i}|kw{i + 1}" for i in range(n_items)],
        "attributes_json": "{}", "backend": "template", "model_id": "none", "prompt_version": "1",
        "content_hash": "x", "fallback": True,
    })
    embedded = items[:-3]  # the last three items have no embedding yet
    item_embeddings = pd.DataFrame({
        "item_id": embedded,
        "embedding": list(rng.normal(size=(len(embedded), DIM)).astype(np.float32)),
        "encoder": "all-MiniLM-L6-v2", "encoder_version": "test", "content_hash": "h",
    })
    user_embeddings = pd.DataFrame({
        "user_id": users,
        "embedding": list(rng.normal(size=(n_users, DIM)).astype(np.float32)),
        "encoder": "all-MiniLM-L6-v2", "encoder_version": "test", "content_hash": "h",
    })
    return {
        "curated/interactions.parquet": interactions,
        "curated/items.parquet": catalogue,
        "augment/interactions.parquet": augmented,
        "augment/item_enrichment.parquet": enrichment,
        "embeddings/items.parquet": item_embeddings,
        "embeddings/users.parquet": user_embeddings,
    }


def write_tables(settings, tables: dict[str, pd.DataFrame]) -> None:
    for relative, frame in tables.items():
        section, name = relative.split("/")
        io.write_parquet(frame, settings.lake.url(section, name))

