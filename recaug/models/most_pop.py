"""MostPop baseline: every user gets the items most often seen in training."""

from __future__ import annotations

import torch

from recaug.models.base import Recommender


class MostPop(Recommender):
    name = "most_pop"

    def __init__(self, train_counts):
        self.popularity = torch.as_tensor(train_counts, dtype=torch.float32)

    @classmethod
    def fit(cls, data) -> "MostPop":
        return cls(data.train_counts)

    def score(self, history, timestamps, now):
        return self.popularity.to(history.device).unsqueeze(0).expand(history.shape[0], -1)
