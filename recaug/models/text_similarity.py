"""Text-similarity baseline: a recency-weighted mean of the history's text embeddings,
compared by cosine with every item's text embedding. Needs no interactions for an item,
so it is the reference for cold items."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from recaug.models.base import Recommender


class TextSimilarity(Recommender):
    name = "text_similarity"

    def __init__(self, text: torch.Tensor, decay: float = 0.5):
        if text.shape[1] == 0:
            raise ValueError("text similarity needs item text embeddings (embeddings/items.parquet)")
        self.items = F.normalize(torch.as_tensor(text, dtype=torch.float32), dim=1)
        self.decay = decay

    @classmethod
    def fit(cls, data, decay: float = 0.5) -> "TextSimilarity":
        return cls(torch.from_numpy(data.text), decay)

    def score(self, history, timestamps, now):
        items = self.items.to(history.device)
        length = history.shape[1]
        age = (length - 1 - torch.arange(length, device=history.device)).to(torch.float32)
        weights = self.decay ** age * (history > 0).to(torch.float32)  # newest event weighs 1
        profile = torch.einsum("bl,bld->bd", weights, items[history])
        return F.normalize(profile, dim=1) @ items.T
