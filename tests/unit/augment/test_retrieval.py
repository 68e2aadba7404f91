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


def reference_cooccurrence(pairs: pd.DataFrame, history: list[str]) -> dict[str, float]:
    """The definition, one user at a time on dense matrices: mean cosine of incidence columns of every
    item not in the history."""
    incidence = pd.crosstab(pairs["user_id"], pairs["item_id"]).clip(upper=1).astype(float)
    items = list(incidence.columns)
    norms = np.sqrt(incidence.to_numpy().sum(axis=0))
    co = incidence.to_numpy().T @ incidence.to_numpy()
    rows = [items.index(i) for i in dict.fromkeys(history) if i in items]
    if not rows:
        return {}
    scores = (co[rows] / (norms[rows][:, None] * norms[None, :])).mean(axis=0)
    return {item: score for j, (item, score) in enumerate(zip(items, scores)) if j not in rows}


def random_world(seed: int):
    rng = np.random.default_rng(seed)
    items = [f"i{j:02d}" for j in range(40)]
    pairs = events([(f"u{rng.integers(30)}", items[min(int(rng.zipf(1.6)) - 1, 39)]) for _ in range(300)])
    histories = [list(rng.choice(items + ["unknown"], size=rng.integers(0, 6))) for _ in range(50)]
    histories[3] = histories[3] + histories[3][:1]  # a repeated item counts once
    return pairs, histories


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_cooccurrence_matches_the_per_user_definition(seed, monkeypatch):
    import recaug.augment.retrieval as retrieval

    monkeypatch.setattr(retrieval, "BATCH_USERS", 7)  # batch boundaries inside the 50 histories
    monkeypatch.setattr(retrieval, "CO_OCCURRENCE_ROWS", 3)  # a batch's history items in several chunks
    pairs, histories = random_world(seed)
    retriever = CoOccurrenceRetriever(pairs)
    for history, found in zip(histories, retriever.candidates_many(histories, k=6)):
        scores = reference_cooccurrence(pairs, history)
        best = sorted((s for s in scores.values() if s > 0), reverse=True)[:6]  # ties may come in any order
        assert [scores[i] for i, _ in found[:len(best)]] == pytest.approx(best, rel=1e-6)
        assert [s for _, s in found[:len(best)]] == pytest.approx(best, rel=1e-6)
        assert all(s <= POPULARITY_SCORE for _, s in found[len(best):])  # the popular fill
        assert len(found) == 6 and not set(i for i, _ in found) & set(history)
        assert found == retriever.candidates(history, k=6)


def test_batched_embedding_retriever_matches_one_history_at_a_time(monkeypatch):
    import recaug.augment.retrieval as retrieval

    monkeypatch.setattr(retrieval, "BATCH_USERS", 7)
    pairs, histories = random_world(3)
    rng = np.random.default_rng(3)
    embedded = sorted(set(pairs["item_id"]))[:-5]  # some items have no embedding
    table = pd.DataFrame({"item_id": embedded[::-1], "embedding": list(rng.normal(size=(len(embedded), 4)))})
    table.loc[1, "embedding"] = table.loc[0, "embedding"]  # an exact tie: ranked by item id
    retriever = EmbeddingRetriever(table, CoOccurrenceRetriever(pairs))
    vectors = {i: np.asarray(v) / np.linalg.norm(v) for i, v in zip(table["item_id"], table["embedding"])}
    for history, found in zip(histories, retriever.candidates_many(histories, k=5)):
        known = [i for i in dict.fromkeys(history) if i in vectors]
        if not known:
            assert found == retriever.fallback.candidates(history, k=5)
            continue
        user = np.mean([vectors[i] for i in known], axis=0)
        user /= np.linalg.norm(user)
        scores = {i: (float(v @ user) + 1) / 2 for i, v in vectors.items() if i not in known}
        best = sorted((s for s in scores.values() if s > 0), reverse=True)[:5]
        assert [scores[i] for i, _ in found] == pytest.approx(best, abs=1e-5)
        assert [s for _, s in found] == pytest.approx(best, abs=1e-5)
    twins = sorted(table["item_id"][:2])  # the same vector: the same score, ranked by item id
    ranked = [i for i, _ in retriever.candidates([table["item_id"][5]], k=len(vectors))]
    assert ranked.index(twins[1]) == ranked.index(twins[0]) + 1
