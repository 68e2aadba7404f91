"""Offline MMR evaluation: list metrics with known values, re-ranking, the weight picker."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recaug.train.diversity import choose_weight, list_metrics, rerank, served_validation, served_weight

# items 1..4: 1 and 2 point the same way, 3 is orthogonal to them, 4 is opposite to 1
EMBEDDINGS = np.array([[0, 0], [1, 0], [2, 0], [0, 1], [-1, 0]], dtype=np.float32)


def test_list_metrics_match_hand_computation():
    lists = np.array([[1, 2], [3, 1], [4, 3]])
    targets = np.array([2, 5, 4])  # second position, missed, first position
    metrics = list_metrics(lists, targets, EMBEDDINGS, num_items=8)
    assert metrics["recall@2"] == metrics["hr@2"] == pytest.approx(2 / 3)
    assert metrics["ndcg@2"] == pytest.approx((1 / math.log2(3) + 0 + 1) / 3)
    # pairwise cosine: (1, 2) = 1 -> 0; (3, 1) = 0 -> 1; (4, 3) = 0 -> 1
    assert metrics["diversity@2"] == pytest.approx((0 + 1 + 1) / 3)
    assert metrics["coverage@2"] == pytest.approx(4 / 8)  # items 1, 2, 3, 4 of 8
    assert metrics["cases"] == 3


def test_intra_list_diversity_reaches_two_for_opposite_items():
    metrics = list_metrics(np.array([[1, 4]]), np.array([1]), EMBEDDINGS, num_items=4)
    assert metrics["diversity@2"] == pytest.approx(2.0)  # cosine -1
    assert metrics["ndcg@2"] == pytest.approx(1.0) and metrics["coverage@2"] == pytest.approx(0.5)


def test_rerank_keeps_the_model_order_at_weight_zero_and_skips_near_duplicates_above():
    pool_ids = np.array([[1, 2, 3]])
    pool_scores = np.array([[3.0, 2.9, 1.0]])
    assert rerank(pool_ids, pool_scores, EMBEDDINGS, 2, 0.0).tolist() == [[1, 2]]
    assert rerank(pool_ids, pool_scores, EMBEDDINGS, 2, 0.7).tolist() == [[1, 3]]


def test_rerank_leaves_out_masked_candidates_and_pads_short_pools():
    pool_ids = np.array([[2, 3, 0]])
    pool_scores = np.array([[5.0, 1.0, -np.inf]])  # a catalogue smaller than the pool: -inf is no candidate
    assert rerank(pool_ids, pool_scores, EMBEDDINGS, 3, 0.5).tolist() == [[2, 3, 0]]


def rows(*pairs):
    return [{"weight": w, "ndcg@10": n} for w, n in pairs]


def test_choose_weight_takes_the_largest_within_the_relative_tolerance():
    curve = rows((0.0, 0.100), (0.1, 0.101), (0.3, 0.0985), (0.5, 0.0979), (0.9, 0.05))
    assert choose_weight(curve, "ndcg@10", 0.02) == 0.3  # 0.0985 >= 0.098; 0.0979 is not
    assert choose_weight(curve, "ndcg@10", 0.025) == 0.5
    assert choose_weight(curve, "ndcg@10", 0.0) == 0.1  # a weight that does not lose counts
    assert choose_weight(rows((0.0, 0.1), (0.2, 0.01)), "ndcg@10", 0.02) == 0.0


def test_choose_weight_is_not_fooled_by_a_non_monotonic_curve():
    """The largest allowed weight, even when a smaller one lost more on these cases."""
    curve = rows((0.0, 0.100), (0.2, 0.090), (0.4, 0.099))
    assert choose_weight(curve, "ndcg@10", 0.02) == 0.4


def test_served_metrics_come_from_the_chosen_row_or_the_model_order():
    metrics = {"valid": {"overall": {"coverage@10": 0.1}},
               "mmr": {"chosen_weight": 0.3, "valid": [{"weight": 0.0, "coverage@10": 0.1},
                                                        {"weight": 0.3, "coverage@10": 0.2}]}}
    assert served_weight(metrics) == 0.3 and served_validation(metrics)["coverage@10"] == 0.2
    plain = {"valid": {"overall": {"coverage@10": 0.1}}, "mmr": None}
    assert served_weight(plain) == 0.0 and served_validation(plain) == {"coverage@10": 0.1}
