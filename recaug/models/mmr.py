"""Maximal marginal relevance: the one re-ranker behind the gateway's `diversity` parameter
and its offline evaluation (recaug.train.diversity), so what is measured is what serves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np


def mmr(scores: Sequence[float], embeddings: "np.ndarray", k: int, diversity: float) -> list[int]:
    """Maximal marginal relevance: positions of `k` candidates, balancing score and novelty.

    relevance is the min-max normalised model score; similarity is cosine between
    embeddings (rows of zeros, i.e. items without an embedding, are similar to nothing).
    diversity 0 keeps the model order; 1 picks the most dissimilar items after the first.
    """
    import numpy as np

    count = len(scores)
    k = min(k, count)
    if k == 0:
        return []
    values = np.asarray(scores, dtype=np.float64)
    spread = values.max() - values.min()
    relevance = (values - values.min()) / spread if spread > 0 else np.ones(count)
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    unit = np.divide(embeddings, norms, out=np.zeros_like(embeddings, dtype=np.float64), where=norms > 0)
    similarity = unit @ unit.T
    chosen = [int(np.argmax(relevance))]
    closest = similarity[chosen[0]].copy()
    available = np.ones(count, dtype=bool)
    available[chosen[0]] = False
    while len(chosen) < k:
        gain = (1.0 - diversity) * relevance - diversity * closest
        gain[~available] = -np.inf
        pick = int(np.argmax(gain))
        chosen.append(pick)
        available[pick] = False
        closest = np.maximum(closest, similarity[pick])
    return chosen
