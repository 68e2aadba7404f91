"""Ranking metrics over the full catalogue (no sampled negatives).

Every evaluation case has exactly one held-out target, so Recall@K equals HR@K; both
names are reported because readers look for either. Ranks are 0-based; ties with the
target are broken by item index (what a stable top-K list would show), so a constant
scorer gets no credit for ties.
"""

from __future__ import annotations

import math

import numpy as np


def target_ranks(scores, targets):
    """0-based rank of each target in its row of `scores` (torch [M, N+1], [M]) -> int64 numpy [M]."""
    import torch

    target_scores = scores.gather(1, targets.unsqueeze(1))
    index = torch.arange(scores.shape[1], device=scores.device).unsqueeze(0)
    ahead = (scores > target_scores) | ((scores == target_scores) & (index < targets.unsqueeze(1)))
    return ahead.sum(dim=1).cpu().numpy().astype(np.int64)


def ranking_metrics(ranks: np.ndarray, ks: list[int]) -> dict[str, float]:
    """HR/Recall@K and NDCG@K for each K, MRR at the smallest K."""
    ranks = np.asarray(ranks)
    result: dict[str, float] = {}
    if len(ranks) == 0:
        return result
    for k in sorted(ks):
        hit = ranks < k
        result[f"hr@{k}"] = float(hit.mean())
        result[f"recall@{k}"] = result[f"hr@{k}"]
        result[f"ndcg@{k}"] = float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean())
    k = min(ks)
    result[f"mrr@{k}"] = float(np.where(ranks < k, 1.0 / (ranks + 1.0), 0.0).mean())
    return result


def coverage(top_lists: np.ndarray, num_items: int) -> float:
    """Share of the catalogue (indices 1..N) that appears in at least one top-K list."""
    recommended = np.unique(top_lists[top_lists > 0])
    return float(len(recommended) / num_items) if num_items else 0.0


def intra_list_diversity(top_lists: np.ndarray, embeddings: np.ndarray) -> float:
    """Mean pairwise cosine distance between the items of each list (over item embeddings)."""
    if top_lists.shape[1] < 2:
        return 0.0
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    unit = embeddings / np.where(norms > 0, norms, 1.0)
    vectors = unit[top_lists]  # [M, K, D]
    similarity = np.einsum("mkd,mjd->mkj", vectors, vectors)
    k = top_lists.shape[1]
    off_diagonal = (similarity.sum(axis=(1, 2)) - np.trace(similarity, axis1=1, axis2=2)) / (k * (k - 1))
    return float((1.0 - off_diagonal).mean())


def novelty(top_lists: np.ndarray, train_counts: np.ndarray) -> float:
    """Mean self-information -log2 p(item) of recommended items, p smoothed by add-one counts."""
    counts = np.asarray(train_counts, dtype=np.float64)[1:]
    probability = (counts + 1.0) / (counts.sum() + len(counts))
    information = np.concatenate([[0.0], -np.log2(probability)])
    return float(information[top_lists].mean())


def summarize(ranks: np.ndarray, top_lists: np.ndarray, ks: list[int], num_items: int, train_counts: np.ndarray,
              embeddings: np.ndarray | None = None) -> dict[str, float]:
    """All list metrics for one set of evaluation cases (top_lists are the top-max(K) indices)."""
    k = min(ks)
    result = ranking_metrics(ranks, ks)
    if len(ranks) == 0:
        return {"cases": 0}
    head = top_lists[:, :k]
    result[f"coverage@{k}"] = coverage(head, num_items)
    result[f"novelty@{k}"] = novelty(head, train_counts)
    if embeddings is not None and embeddings.shape[1] > 0:
        result[f"diversity@{k}"] = intra_list_diversity(head, embeddings)
    result["cases"] = int(len(ranks))
    return result


def mean_and_spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    if not values:
        return math.nan, math.nan
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
