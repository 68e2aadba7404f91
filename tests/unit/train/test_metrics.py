from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recaug.train.metrics import (
    coverage, intra_list_diversity, mean_and_spread, novelty, ranking_metrics, target_ranks,
)


def test_target_ranks_count_better_items_and_break_ties_by_index():
    scores = torch.tensor([
        [0.0, 0.9, 0.5, 0.7, 0.1],  # target 2: items 1 and 3 are better -> rank 2
        [0.0, 0.3, 0.3, 0.3, 0.3],  # target 3 ties with 1 and 2 (lower index first) -> rank 2
        [0.0, 0.1, 0.2, 0.3, 0.4],  # target 4 is the best -> rank 0
    ])
    assert target_ranks(scores, torch.tensor([2, 3, 4])).tolist() == [2, 2, 0]


def test_ranking_metrics_match_hand_computation():
    ranks = np.array([0, 3, 12, 50])
    m = ranking_metrics(ranks, [10, 20])
    assert m["hr@10"] == pytest.approx(2 / 4)
    assert m["recall@10"] == m["hr@10"]
    assert m["hr@20"] == pytest.approx(3 / 4)
    assert m["ndcg@10"] == pytest.approx((1 / math.log2(2) + 1 / math.log2(5)) / 4)
    assert m["ndcg@20"] == pytest.approx((1 + 1 / math.log2(5) + 1 / math.log2(14)) / 4)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 4) / 4)


def test_coverage_counts_distinct_real_items_over_catalogue():
    lists = np.array([[1, 2], [2, 3], [0, 3]])  # 0 is padding, not an item
    assert coverage(lists, num_items=6) == pytest.approx(3 / 6)


def test_intra_list_diversity_is_mean_pairwise_cosine_distance():
    embeddings = np.array([[0, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float32)
    same = intra_list_diversity(np.array([[1, 2]]), embeddings)
    orthogonal = intra_list_diversity(np.array([[1, 3]]), embeddings)
    assert same == pytest.approx(0.0)
    assert orthogonal == pytest.approx(1.0)
    assert intra_list_diversity(np.array([[1, 2], [1, 3]]), embeddings) == pytest.approx(0.5)


def test_novelty_is_self_information_of_smoothed_popularity():
    counts = np.array([0, 6, 0, 2])  # items 1..3; add-one: p = (7, 1, 3) / 11
    assert novelty(np.array([[1]]), counts) == pytest.approx(-math.log2(7 / 11))
    assert novelty(np.array([[2, 3]]), counts) == pytest.approx((-math.log2(1 / 11) - math.log2(3 / 11)) / 2)


def test_mean_and_spread():
    assert mean_and_spread([1.0, 3.0]) == pytest.approx((2.0, math.sqrt(2.0)))
    assert mean_and_spread([5.0]) == (5.0, 0.0)
