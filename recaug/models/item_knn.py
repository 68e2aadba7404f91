"""ItemKNN baseline: cosine item-item similarity from co-occurrence in users' fitted histories.

score(u, j) = sum over history items i of cos(i, j), computed as (h D^-1/2 X^T)(X D^-1/2)
with the sparse user-item matrix X, so the N x N similarity matrix is never materialised.
"""

from __future__ import annotations

import numpy as np
import torch

from recaug.models.base import Recommender


class ItemKNN(Recommender):
    name = "item_knn"

    def __init__(self, normalized_interactions: torch.Tensor):
        self.matrix = normalized_interactions.coalesce()  # sparse [U, N+1], columns scaled by 1/sqrt(count)
        self.matrix_t = self.matrix.t().coalesce()

    @classmethod
    def fit(cls, data) -> "ItemKNN":
        rows, cols = [], []
        for u, end in enumerate(data.fit_end):
            items = np.unique(data.user_items[u][:end])
            rows.append(np.full(len(items), u))
            cols.append(items)
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        counts = np.bincount(cols, minlength=data.num_items + 1).astype(np.float32)
        values = 1.0 / np.sqrt(np.maximum(counts[cols], 1.0))
        matrix = torch.sparse_coo_tensor(
            torch.from_numpy(np.stack([rows, cols])), torch.from_numpy(values.astype(np.float32)),
            size=(len(data.users), data.num_items + 1), check_invariants=True,
        )
        return cls(matrix)

    def score(self, history, timestamps, now):
        n_items = self.matrix.shape[1]
        seen = torch.zeros(history.shape[0], n_items, device=history.device)
        seen.scatter_(1, history, 1.0)
        seen[:, 0] = 0.0
        matrix = self.matrix.to(history.device)
        profile = torch.sparse.mm(matrix, seen.T)  # [U, B]: co-occurrence of each user with the history
        return torch.sparse.mm(self.matrix_t.to(history.device), profile).T
