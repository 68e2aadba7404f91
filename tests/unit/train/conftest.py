"""Small synthetic marketplace (recaug.data.synth) with planted sequential structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaug.data.config import SynthConfig
from recaug.data.synth import generate_days
from recaug.models.config import ModelConfig
from recaug.train.config import TrainConfig


@pytest.fixture(scope="session")
def market():
    """(interactions, items, item_embeddings) of a 10-day marketplace."""
    config = SynthConfig(seed=3, n_users=200, n_items=120, n_interactions=7000, n_topics=4, n_days=10)
    days = list(generate_days(config))
    interactions = pd.concat([d.interactions for d in days], ignore_index=True)
    items = pd.concat([d.items for d in days], ignore_index=True)
    return interactions, items, bag_of_words_embeddings(items)


def bag_of_words_embeddings(items: pd.DataFrame, dim: int = 32) -> pd.DataFrame:
    """Deterministic text vectors: hashed words of title + categories (stands in for MiniLM in fast tests)."""
    rows = []
    for item_id, title, categories in zip(items["item_id"], items["title"], items["categories"].fillna("")):
        vector = np.zeros(dim, dtype=np.float32)
        for word in f"{title} {categories.replace('|', ' ')}".lower().split():
            vector[sum(map(ord, word)) % dim] += 1.0
        rows.append({"item_id": item_id, "embedding": vector / max(np.linalg.norm(vector), 1e-6)})
    return pd.DataFrame(rows)


@pytest.fixture
def tiny_model_config():
    return ModelConfig(hidden_size=32, num_layers=1, num_heads=2, max_length=20, dropout=0.1)


@pytest.fixture
def tiny_train_config():
    return TrainConfig(epochs=6, batch_size=16, learning_rate=3e-3, patience=10, num_threads=1)
