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
    from scipy import sparse

POPULARITY_SCORE = 0.05  # popular items that fill a short candidate list get at most this score


SCORE_DECIMALS = 12  # co-occurrence scores equal to this precision are ties
BATCH_USERS = 256  # histories scored together: one sparse/dense product per batch instead of one per user
CO_OCCURRENCE_ROWS = 256  # item co-occurrence rows held at once (a popular item's row is nearly dense)


class Retriever(abc.ABC):
    name: str

    @abc.abstractmethod
    def candidates_many(self, histories: list[list[str]], k: int) -> list[list[tuple[str, float]]]:
        """For each history, up to k (item_id, score) pairs not in it, best first."""

    def candidates(self, history: list[str], k: int) -> list[tuple[str, float]]:
        return self.candidates_many([history], k)[0]


def top_k(scores: "np.ndarray", k: int) -> "np.ndarray":
    """Positions of the k highest scores, best first, equal scores in position order: the same as a
    stable sort of the whole row, without sorting it."""
    import numpy as np

    if k >= len(scores):
        return np.argsort(-scores, kind="stable")
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    contenders = np.flatnonzero(scores >= kth)
    return contenders[np.argsort(-scores[contenders], kind="stable")][:k]


def _history_rows(index: dict[str, int], history: list[str]) -> list[int]:
    return [index[i] for i in dict.fromkeys(history) if i in index]


def _mean_operator(rows: list[list[int]], width: int, weights: "np.ndarray") -> "sparse.csr_matrix":
    """A [len(rows), width] matrix whose row u averages the rows[u] entries of what it multiplies,
    each scaled by `weights` (a user without rows gets an empty row)."""
    import numpy as np
    from scipy import sparse

    counts = np.array([len(r) for r in rows], dtype=np.int64)
    columns = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(counts.sum()))
    values = weights[columns] / np.repeat(np.maximum(counts, 1), counts)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return sparse.csr_matrix((values, columns, indptr), shape=(len(rows), width))


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

    def candidates_many(self, histories: list[list[str]], k: int) -> list[list[tuple[str, float]]]:
        import numpy as np

        rows = [_history_rows(self.index, h) for h in histories]
        # Histories sharing items go into one batch (ordered by their sorted items), so an item's
        # co-occurrence row, the costly part (its users x their items), is computed once per batch.
        order = sorted(range(len(histories)), key=lambda u: sorted(rows[u]))
        out: list[list[tuple[str, float]]] = [[] for _ in histories]
        for start in range(0, len(order), BATCH_USERS):
            batch = order[start:start + BATCH_USERS]
            scores = self._mean_cosines([rows[u] for u in batch])
            # counts make exact ties common (14/sqrt(49*96) = 21/sqrt(49*216)): rounding away float error
            # lets them rank by item id, whatever order the sums ran in
            scores = np.round(scores, SCORE_DECIMALS, out=scores)
            for u, row in zip(batch, scores):
                found: list[tuple[str, float]] = []
                if rows[u]:
                    row[rows[u]] = 0.0
                    found = [(str(self.items[j]), float(row[j])) for j in top_k(row, k) if row[j] > 0]
                out[u] = self.popularity.fill(found, set(histories[u]), k)
        return out

    def _mean_cosines(self, rows: list[list[int]]) -> "np.ndarray":
        """[len(rows), items]: each history's mean over its items i of cosine(i, j) =
        co(i, j) / (norm_i norm_j), from the exact co-occurrence counts of its distinct items."""
        import numpy as np

        distinct = np.unique(np.fromiter((i for r in rows for i in r), dtype=np.int64))
        mean = _mean_operator(rows, len(self.items), 1.0 / self.norms.astype(np.float64))[:, distinct]
        scores = np.zeros((len(rows), len(self.items)))
        for start in range(0, len(distinct), CO_OCCURRENCE_ROWS):
            counts = self.item_user[distinct[start:start + CO_OCCURRENCE_ROWS]] @ self.user_item
            scores += (mean[:, start:start + CO_OCCURRENCE_ROWS] @ counts).toarray()
        return scores / self.norms[None, :]


class EmbeddingRetriever(Retriever):
    """Items whose text embedding is closest to the mean embedding of the history."""

    name = "embedding"

    def __init__(self, embeddings: "pd.DataFrame", fallback: Retriever):
        import numpy as np

        embeddings = embeddings.assign(item_id=embeddings["item_id"].astype(str)).sort_values("item_id", kind="stable")
        matrix = np.stack(embeddings["embedding"].map(lambda v: np.asarray(v, dtype=np.float32)).to_list())
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.matrix: "np.ndarray" = matrix / np.where(norms == 0, 1.0, norms)
        self.items = embeddings["item_id"].to_numpy()  # in id order: equal scores rank by item id
        self.index = {item: i for i, item in enumerate(self.items)}
        self.fallback = fallback

    def candidates_many(self, histories: list[list[str]], k: int) -> list[list[tuple[str, float]]]:
        import numpy as np

        out: list[list[tuple[str, float]] | None] = []
        without = []  # histories with no embedded item: the fallback's candidates
        for start in range(0, len(histories), BATCH_USERS):
            batch = histories[start:start + BATCH_USERS]
            rows = [_history_rows(self.index, h) for h in batch]
            users = _mean_operator(rows, len(self.items), np.ones(len(self.items), dtype=np.float32)) @ self.matrix
            users /= np.maximum(np.linalg.norm(users, axis=1, keepdims=True), 1e-12)
            scores = (users.astype(np.float32) @ self.matrix.T + 1.0) / 2.0
            for history, history_rows, row in zip(batch, rows, scores):
                if not history_rows:
                    without.append((len(out), history))
                    out.append(None)
                    continue
                row[history_rows] = -1.0
                out.append([(str(self.items[j]), float(row[j])) for j in top_k(row, k)
                            if row[j] > 0 and self.items[j] not in history])
        for (position, _), found in zip(without, self.fallback.candidates_many([h for _, h in without], k)):
            out[position] = found
        return out
