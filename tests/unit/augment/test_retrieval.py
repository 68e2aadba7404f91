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


def _dense_reference(retriever, history, k):
    """The whole-catalogue computation: every item scored, sorted by (-score, id)."""
    rows = [retriever.index[i] for i in dict.fromkeys(history) if i in retriever.index]
    co = (retriever.item_user[rows] @ retriever.user_item).toarray()
    scores = np.round((co / (retriever.norms[rows][:, None] * retriever.norms[None, :])).mean(axis=0, dtype=np.float64), 6)
    scores[rows] = 0.0
    top = np.lexsort((retriever.items, -scores))[:k]
    return [(str(retriever.items[j]), float(scores[j])) for j in top if scores[j] > 0]


def test_cooccurrence_scores_only_shared_items_but_ranks_like_the_whole_catalogue():
    rng = np.random.default_rng(7)
    pairs = [(f"u{rng.integers(60)}", f"i{rng.integers(40):02d}") for _ in range(400)]
    retriever = CoOccurrenceRetriever(events(pairs))
    for user in range(20):
        history = [f"i{j:02d}" for j in rng.choice(40, size=rng.integers(1, 4), replace=False)]
        expected = _dense_reference(retriever, history, 5)
        found = retriever.candidates(history, 5)[:len(expected)]
        assert [i for i, _ in found] == [i for i, _ in expected]
        assert [s for _, s in found] == pytest.approx([s for _, s in expected], rel=1e-5)


def test_top_k_keeps_ties_at_the_cut_in_id_order():
    from recaug.augment.retrieval import top_k

    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1])
    ids = np.array(["d", "a", "c", "b", "e"])
    assert top_k(scores, ids, 3).tolist() == [1, 3, 2]  # a (0.9), then the 0.5s by id: b, c
    assert top_k(scores, ids, 10).tolist() == [1, 3, 2, 0, 4]
