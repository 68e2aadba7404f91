"""The serving graph: a sequential recommender wrapped as history -> top-K.

Triton and the gateway never see the recommender's internals; they call one function
with the contract of docs/STAGES.md ("The exported model"). Any model with
`user_vector` and `item_matrix` can be wrapped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

INPUT_NAMES = ("history", "timestamps", "now")
OUTPUT_NAMES = ("top_ids", "top_scores", "user_vector")


class ExportableRecommender(Protocol):
    """What the exporter needs from a model (FusionSASRec and GRU4Rec provide it)."""

    def user_vector(self, history: "torch.Tensor", timestamps: "torch.Tensor", now: "torch.Tensor") -> "torch.Tensor":
        """history/timestamps int64 [B, L] left-padded with 0, now int64 [B] -> float [B, H]."""

    def item_matrix(self) -> "torch.Tensor":
        """Item vectors [N+1, H]; row 0 is padding."""


def top_k_module(model: ExportableRecommender, top_k: int, exclude_history: bool, max_length: int | None = None):
    """A torch module (history, timestamps, now) -> (top_ids, top_scores, user_vector).

    Masked items (padding, and history when `exclude_history`) score -inf, so when K
    exceeds the items left a row ends with -inf entries; consumers drop non-finite scores.
    `max_length` keeps only the newest events for the model (older ones still count as seen).
    """
    import torch
    from torch import nn

    class TopKRecommender(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, history: torch.Tensor, timestamps: torch.Tensor, now: torch.Tensor):
            recent_history, recent_timestamps = history, timestamps
            if max_length is not None:
                recent_history, recent_timestamps = history[:, -max_length:], timestamps[:, -max_length:]
            user = self.model.user_vector(recent_history, recent_timestamps, now)
            scores = user @ self.model.item_matrix().T
            padding = torch.zeros_like(history[:, :1])
            blocked = torch.cat([padding, history], dim=1) if exclude_history else padding
            scores = scores.scatter(1, blocked, float("-inf"))
            top_scores, top_ids = torch.topk(scores, top_k, dim=1)
            return top_ids, top_scores, user

    return TopKRecommender().eval()
