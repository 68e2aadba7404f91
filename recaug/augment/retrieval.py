"""Base retrievers that propose candidate items for interaction augmentation.

The LLM only chooses among these candidates (LLMRec's setting), so the retriever bounds
what augmentation can add. Scores are in (0, 1] and feed the confidence of an
augmented pair: cosine of item co-occurrence, or of text embeddings mapped to (0, 1].
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

POPULARITY_SCORE = 0.05  # popular items that fill a short candidate list get at most this score


class Retriever(abc.ABC):
    name: str

    @abc.abstractmethod
    def candidates(self, history: list[str], k: int) -> list[tuple[str, float]]:
        """Up to k (item_id, score) pairs not in `history`, best first."""


class _Popularity:
    """Most-interacted items, for filling candidate lists of users with few signals."""

    def __init__(self, interactions: "pd.DataFrame"):
        counts = interactions["item_id"].value_counts()
        counts = counts.sort_index().sort_values(ascending=False, kind="stable")
        top = float(counts.iloc[0]) if len(counts) else 1.0
        self.ranked = [(item, float(n) / top * POPULARITY_SCORE) for item, n in counts.items()]

    def fill(self, found: list[tuple[str, float]], exclude: set[str], k: int) -> list[tuple[str, float]]:
        seen = exclude | {item for item, _ in found}
        for item, score in self.ranked:
            if len(found) >= k:
                break
            if item not in seen:
                found.append((item, max(score, 1e-6)))
                seen.add(item)
        return found


class CoOccurrenceRetriever(Retriever):
    """Items that share users with the history: mean cosine of the user-item incidence columns."""

    name = "cooccurrence"

    def __init__(self, interactions: "pd.DataFrame"):
        import numpy as np
        from scipy import sparse

        pairs = interactions[["user_id", "item_id"]].drop_duplicates()
        users, user_index = np.unique(pairs["user_id"].to_numpy(dtype=str), return_inverse=True)
        self.items, item_index = np.unique(pairs["item_id"].to_numpy(dtype=str), return_inverse=True)
        self.index = {item: i for i, item in enumerate(self.items)}
        ones = np.ones(len(pairs), dtype=np.float32)
        self.user_item = sparse.csr_matrix((ones, (user_index, item_index)), shape=(len(users), len(self.items)))
        self.item_user = self.user_item.T.tocsr()
        self.norms = np.sqrt(np.asarray(self.user_item.sum(axis=0)).ravel())
        self.popularity = _Popularity(interactions)

    def candidates(self, history: list[str], k: int) -> list[tuple[str, float]]:
        import numpy as np

        rows = [self.index[i] for i in dict.fromkeys(history) if i in self.index]
        found: list[tuple[str, float]] = []
        if rows:
            co = (self.item_user[rows] @ self.user_item).toarray()  # [len(rows), n_items] shared-user counts
            cosine = co / (self.norms[rows][:, None] * self.norms[None, :])
            scores = cosine.mean(axis=0)
            scores[rows] = 0.0
            top = np.lexsort((self.items, -scores))[:k]
            found = [(str(self.items[j]), float(scores[j])) for j in top if scores[j] > 0]
        return self.popularity.fill(found, set(history), k)


class EmbeddingRetriever(Retriever):
    """Items whose text embedding is closest to the mean embedding of the history."""

    name = "embedding"

    def __init__(self, embeddings: "pd.DataFrame", fallback: Retriever):
        import numpy as np

        matrix = np.stack(embeddings["embedding"].map(lambda v: np.asarray(v, dtype=np.float32)).to_list())
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.matrix: "np.ndarray" = matrix / np.where(norms == 0, 1.0, norms)
        self.items = embeddings["item_id"].astype(str).to_numpy()
        self.index = {item: i for i, item in enumerate(self.items)}
        self.fallback = fallback

    def candidates(self, history: list[str], k: int) -> list[tuple[str, float]]:
        import numpy as np

        rows = [self.index[i] for i in dict.fromkeys(history) if i in self.index]
        if not rows:
            return self.fallback.candidates(history, k)
        user = self.matrix[rows].mean(axis=0)
        user /= max(float(np.linalg.norm(user)), 1e-12)
        scores = (self.matrix @ user + 1.0) / 2.0
        scores[rows] = -1.0
        top = np.lexsort((self.items, -scores))[:k]
        return [(str(self.items[j]), float(scores[j])) for j in top if scores[j] > 0 and self.items[j] not in history]
