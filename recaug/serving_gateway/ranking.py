"""Re-ranking and fallbacks that run after the model: MMR diversity, popular items."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np

    from recaug.settings import Settings


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


def popular_items(settings: "Settings", window_days: int) -> list[tuple[str, float]]:
    """(item_id, interactions in the window) most popular first, for users the model cannot
    rank. Counts the lake's curated interactions over the last `window_days` before the
    newest event; empty when the lake has none."""
    import pandas as pd

    from recaug import io

    if not io.exists(settings.lake.interactions):
        return []
    events = io.read_parquet(settings.lake.interactions, columns=["item_id", "timestamp"])
    if events.empty:
        return []
    recent = events[events["timestamp"] > events["timestamp"].max() - pd.Timedelta(days=window_days)]
    counts = recent.groupby("item_id").size().sort_values(ascending=False, kind="stable")
    return [(str(item), float(count)) for item, count in counts.items()]
