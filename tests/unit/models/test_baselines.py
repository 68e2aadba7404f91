from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recaug.models.item_knn import ItemKNN
from recaug.models.most_pop import MostPop
from recaug.models.text_similarity import TextSimilarity
from recaug.train.dataset import build_sequences


def tiny_data():
    # fitted parts (last two events of each user are held out):
    # u1: a b c | u2: a b | u3: c d
    rows = [("u1", "a", 1), ("u1", "b", 2), ("u1", "c", 3), ("u1", "x", 4), ("u1", "y", 5),
            ("u2", "a", 1), ("u2", "b", 2), ("u2", "x", 4), ("u2", "y", 5),
            ("u3", "c", 1), ("u3", "d", 2), ("u3", "x", 4), ("u3", "y", 5)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    embeddings = pd.DataFrame({"item_id": list("abcdxy"), "embedding": [
        [1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.5, 0.5], [-1.0, 0.0]]})
    return build_sequences(df, item_embeddings=embeddings)


def ids(data, *names):
    return torch.tensor([[data.vocab.index(n) for n in names]])


def test_most_pop_scores_are_fitted_counts():
    data = tiny_data()
    scores = MostPop.fit(data).score(ids(data, "a"), torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    by_item = dict(zip(data.vocab[1:], scores[0, 1:].tolist()))
    assert by_item == {"a": 2, "b": 2, "c": 2, "d": 1, "x": 0, "y": 0}


def test_item_knn_sums_cosine_similarities_of_the_history():
    data = tiny_data()
    scores = ItemKNN.fit(data).score(ids(data, "a"), torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    by_item = dict(zip(data.vocab[1:], scores[0, 1:].tolist()))
    # a is in {u1, u2}; b in {u1, u2}; c in {u1, u3}; d in {u3}: cos(a,b)=1, cos(a,c)=1/2, cos(a,d)=0
    assert by_item["b"] == pytest.approx(1.0)
    assert by_item["c"] == pytest.approx(0.5)
    assert by_item["d"] == pytest.approx(0.0)


def test_item_knn_ignores_padding_and_repeats_and_scores_each_row_on_its_own():
    data = tiny_data()
    knn = ItemKNN.fit(data)
    none = torch.zeros(2, 1, dtype=torch.long)
    alone = torch.cat([knn.score(ids(data, "a", "c"), none[:1], none[:1, 0]),
                       knn.score(ids(data, "d"), none[:1], none[:1, 0])])
    batch = torch.tensor([[data.vocab.index("a"), data.vocab.index("c"), data.vocab.index("a")],
                          [0, 0, data.vocab.index("d")]])
    assert torch.allclose(knn.score(batch, none, none[:, 0]), alone)


def test_text_similarity_prefers_items_close_to_the_recent_history():
    data = tiny_data()
    model = TextSimilarity.fit(data, decay=0.5)
    history = ids(data, "c", "a")  # a is the most recent
    scores = model.score(history, torch.zeros_like(history), torch.zeros(1, dtype=torch.long))[0]
    profile = np.array([1.0, 0.0]) + 0.5 * np.array([0.0, 1.0])
    for name in "bdxy":
        vec = np.array(data.text[data.vocab.index(name)])
        expected = profile @ vec / np.linalg.norm(profile) / np.linalg.norm(vec)
        assert scores[data.vocab.index(name)].item() == pytest.approx(expected, abs=1e-6)
    assert scores[data.vocab.index("b")] > scores[data.vocab.index("d")]
