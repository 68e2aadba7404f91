"""MMR re-ranking measured offline: what the gateway's `diversity` weight costs in accuracy
and buys in variety, and the default weight, chosen on the validation cases.

The gateway re-ranks the model's top candidates (`deploy.gateway.mmr_candidates`, else
the exported top-K) with recaug.models.mmr over the items' text embeddings. This does the
same for every evaluation case and every weight of `train.mmr_weights`, and measures the
re-ranked top-K: NDCG/Recall@K of the held-out item (full ranking: a target outside the
list is a miss), intra-list diversity (1 - mean pairwise cosine of the list's text
embeddings) and catalogue coverage (distinct items recommended / catalogue size).

The default is the largest weight whose validation NDCG@K stays within
`train.mmr_max_ndcg_loss` (relative) of weight 0; the test cases never take part. The
curve and the choice are recorded in metrics.json (`mmr`); the gateway serves that weight
when a request names none, and the gate's coverage and diversity floors are checked at it.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from recaug.models.mmr import mmr
from recaug.train.dataset import EvalCases, SequenceData
from recaug.train.metrics import coverage, intra_list_diversity, ranking_metrics

log = logging.getLogger(__name__)


def candidate_pools(recommender, cases: EvalCases, config, max_length: int, size: int,
                    device=None, data: SequenceData | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each case's top `size` item indices and scores, best first, history and padding masked:
    what Triton hands the gateway (an index whose score is -inf is not a candidate)."""
    import torch

    from recaug.train.evaluate import masked_scores

    ids = np.zeros((len(cases), size), dtype=np.int64)
    scores = np.full((len(cases), size), -np.inf, dtype=np.float64)
    for rows, batch_scores, _ in masked_scores(recommender, cases, config, max_length, device, data):
        top = torch.topk(batch_scores, min(size, batch_scores.shape[1]), dim=1)
        ids[rows, : top.indices.shape[1]] = top.indices.cpu().numpy()
        scores[rows, : top.values.shape[1]] = top.values.cpu().numpy()
    return ids, scores


def rerank(pool_ids: np.ndarray, pool_scores: np.ndarray, embeddings: np.ndarray, k: int,
           weight: float) -> np.ndarray:
    """[M, k] item indices: each pool re-ranked by MMR with `weight` (0 = padding where a pool
    has fewer than k real candidates)."""
    lists = np.zeros((len(pool_ids), k), dtype=np.int64)
    for row, (ids, scores) in enumerate(zip(pool_ids, pool_scores)):
        real = np.isfinite(scores)
        ids, scores = ids[real], scores[real]
        order = mmr(scores, embeddings[ids], k, weight)
        lists[row, : len(order)] = ids[order]
    return lists


def list_metrics(lists: np.ndarray, targets: np.ndarray, embeddings: np.ndarray, num_items: int) -> dict[str, float]:
    """NDCG/Recall/HR/MRR@K of the targets in these top-K lists, their intra-list diversity and
    the catalogue coverage of all of them together (K = the lists' width)."""
    k = lists.shape[1]
    found = lists == targets[:, None]
    ranks = np.where(found.any(axis=1), found.argmax(axis=1), k)  # a target not in the list is a miss
    result = ranking_metrics(ranks, [k])
    result[f"diversity@{k}"] = intra_list_diversity(lists, embeddings)
    result[f"coverage@{k}"] = coverage(lists, num_items)
    result["cases"] = int(len(lists))
    return result


def choose_weight(rows: list[dict[str, float]], metric: str, max_loss: float) -> float:
    """The largest weight whose `metric` is at least (1 - max_loss) x the metric at weight 0
    (rows: one per weight, weight 0 among them)."""
    base = next(row[metric] for row in rows if row["weight"] == 0.0)
    allowed = [row["weight"] for row in rows if row[metric] >= (1.0 - max_loss) * base]
    return max(allowed)


def mmr_curve(recommender, data: SequenceData, config, max_length: int, candidates: int,
              device=None) -> dict[str, Any] | None:
    """The trade-off over `config.mmr_weights` on the validation and test cases, and the weight
    chosen on validation; None when the items have no text embeddings to diversify over."""
    if not data.text.shape[1] or len(data.valid) == 0:
        log.info("no MMR evaluation: %s", "no item text embeddings" if not data.text.shape[1] else "no validation cases")
        return None
    k = min(config.ks)
    size = max(k, candidates)
    weights = sorted(set(config.mmr_weights) | {0.0})
    curve: dict[str, Any] = {"k": k, "candidates": size, "weights": weights, "max_ndcg_loss": config.mmr_max_ndcg_loss}
    for split, cases in (("valid", data.valid), ("test", data.test)):
        if len(cases) == 0:
            curve[split] = []
            continue
        pool_ids, pool_scores = candidate_pools(recommender, cases, config, max_length, size, device, data)
        curve[split] = [{"weight": weight, **list_metrics(rerank(pool_ids, pool_scores, data.text, k, weight),
                                                          cases.targets, data.text, data.num_items)}
                        for weight in weights]
    curve["chosen_weight"] = choose_weight(curve["valid"], f"ndcg@{k}", config.mmr_max_ndcg_loss)
    chosen = next(row for row in curve["valid"] if row["weight"] == curve["chosen_weight"])
    plain = curve["valid"][0]
    log.info("MMR default weight %.2f (largest within %.0f%% of weight 0's validation NDCG@%d): NDCG@%d %.4f -> %.4f, "
             "diversity %.3f -> %.3f, coverage %.3f -> %.3f", curve["chosen_weight"], 100 * config.mmr_max_ndcg_loss,
             k, k, plain[f"ndcg@{k}"], chosen[f"ndcg@{k}"], plain[f"diversity@{k}"], chosen[f"diversity@{k}"],
             plain[f"coverage@{k}"], chosen[f"coverage@{k}"])
    return curve


def candidates_served(settings) -> int:
    """How many of the model's items the gateway re-ranks: `mmr_candidates`, else the exported top-K."""
    return settings.deploy.gateway.mmr_candidates or settings.export.top_k


def served_weight(metrics: dict[str, Any]) -> float:
    """The MMR weight chosen for a model (metrics.json), 0 when none was chosen."""
    return float((metrics.get("mmr") or {}).get("chosen_weight") or 0.0)


def served_validation(metrics: dict[str, Any]) -> dict[str, float]:
    """Validation list metrics at the served weight: the MMR curve's row when there is one,
    else the model's own order (the overall validation metrics)."""
    curve = metrics.get("mmr") or {}
    for row in curve.get("valid") or []:
        if row["weight"] == curve.get("chosen_weight"):
            return row
    return (metrics.get("valid") or {}).get("overall") or {}
