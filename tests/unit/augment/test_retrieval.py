from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaug.augment.retrieval import POPULARITY_SCORE, CoOccurrenceRetriever, EmbeddingRetriever


def events(pairs):
    return pd.DataFrame(pairs, columns=["user_id", "item_id"])


@pytest.fixture
def retriever():
    return CoOccurrenceRetriever(events([
        ("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "x"), ("c", "z"), ("d", "w"), ("e", "w"), ("f", "w"),
    ]))


def test_cooccurrence_ranks_by_mean_cosine_and_excludes_history(retriever):
    found = retriever.candidates(["x"], k=2)
    # x: users a,b,c; y: a,b -> 2/sqrt(3*2); z: c -> 1/sqrt(3*1)
    assert [i for i, _ in found] == ["y", "z"]
    assert found[0][1] == pytest.approx(2 / np.sqrt(6)) and found[1][1] == pytest.approx(1 / np.sqrt(3))


def test_short_lists_are_filled_with_popular_items_at_a_low_score(retriever):
    found = retriever.candidates(["x"], k=3)
    assert found[2][0] == "w" and 0 < found[2][1] <= POPULARITY_SCORE
    cold = retriever.candidates(["unknown"], k=2)
    assert [i for i, _ in cold] == ["w", "x"]
    assert all(0 < s <= POPULARITY_SCORE for _, s in cold)


def test_embedding_retriever_uses_the_mean_history_vector():
    table = pd.DataFrame({
        "item_id": ["p", "q", "r", "s"],
        "embedding": [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]],
    })
    fallback = CoOccurrenceRetriever(events([("u", "p"), ("u", "r")]))
    retriever = EmbeddingRetriever(table, fallback)
    found = retriever.candidates(["p"], k=3)
    assert [i for i, _ in found] == ["q", "r"]  # s has cosine -1 -> score 0, dropped
    assert found[0][1] == pytest.approx((0.9 / np.hypot(0.9, 0.1) + 1) / 2)
    assert retriever.candidates(["not-embedded"], k=1) == fallback.candidates(["not-embedded"], k=1)
