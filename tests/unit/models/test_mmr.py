"""The MMR re-ranker shared by the gateway and the offline evaluation."""

from __future__ import annotations

import numpy as np

from recaug.models.mmr import mmr


def test_mmr_without_diversity_keeps_the_model_order():
    embeddings = np.random.default_rng(0).normal(size=(5, 4))
    assert mmr([5.0, 4.0, 3.0, 2.0, 1.0], embeddings, 3, diversity=0.0) == [0, 1, 2]


def test_mmr_skips_near_duplicates_when_asked_for_diversity():
    # items 0 and 1 are the same direction; 2 is orthogonal but scored lower
    embeddings = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    scores = [3.0, 2.9, 1.0]
    assert mmr(scores, embeddings, 2, diversity=0.0) == [0, 1]
    assert mmr(scores, embeddings, 2, diversity=0.7) == [0, 2]


def test_mmr_treats_items_without_embedding_as_dissimilar_and_handles_small_pools():
    embeddings = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    assert mmr([3.0, 1.0, 2.0], embeddings, 2, diversity=0.8) == [0, 1]
    assert mmr([1.0], embeddings[:1], 5, diversity=0.5) == [0]
    assert mmr([], np.zeros((0, 2)), 3, diversity=0.5) == []
    assert mmr([2.0, 2.0], np.eye(2), 2, diversity=0.3) in ([0, 1], [1, 0])  # equal scores


def test_the_gateway_reranks_with_the_shared_function():
    from recaug.serving_gateway import ranking

    assert ranking.mmr is mmr
