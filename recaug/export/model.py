"""The serving graph: a sequential recommender wrapped as history -> top-K.

Triton and the gateway never see the recommender's internals; they call one function
with the contract of docs/STAGES.md ("The exported model"). Any model with
`user_vector` and `item_matrix` can be wrapped. A model with a user tower also takes the
tower's inputs (`recaug.models.user_spec.INPUT_TYPES`, only the parts its spec has);
models without one keep the three inputs.
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


def input_names(model) -> tuple[str, ...]:
    """The exported graph's inputs: history, timestamps, now, then the user tower's."""
    spec = getattr(model, "user_spec", None)
    return INPUT_NAMES + (tuple(spec.input_widths) if spec is not None else ())


def top_k_module(model: ExportableRecommender, top_k: int, exclude_history: bool, max_length: int | None = None):
    """A torch module (history, timestamps, now[, user inputs]) -> (top_ids, top_scores, user_vector).

    Masked items (padding, and history when `exclude_history`) score -inf, so when K
    exceeds the items left a row ends with -inf entries; consumers drop non-finite scores.
    `max_length` keeps only the newest events for the model (older ones still count as seen).
    """
    import torch
    from torch import nn

    user_names = input_names(model)[len(INPUT_NAMES):]

    class TopKRecommender(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, history: torch.Tensor, timestamps: torch.Tensor, now: torch.Tensor, *user_inputs):
            recent_history, recent_timestamps = history, timestamps
            if max_length is not None:
                recent_history, recent_timestamps = history[:, -max_length:], timestamps[:, -max_length:]
            features = _user_inputs(dict(zip(user_names, user_inputs)), history.shape[0]) if user_names else None
            user = self.model.user_vector(recent_history, recent_timestamps, now, features) if features is not None \
                else self.model.user_vector(recent_history, recent_timestamps, now)
            scores = user @ self.model.item_matrix().T
            padding = torch.zeros_like(history[:, :1])
            blocked = torch.cat([padding, history], dim=1) if exclude_history else padding
            scores = scores.scatter(1, blocked, float("-inf"))
            top_scores, top_ids = torch.topk(scores, top_k, dim=1)
            return top_ids, top_scores, user

    return TopKRecommender().eval()


def _user_inputs(named: dict, batch):
    """UserInputs from the graph's user inputs; parts the spec lacks are [B, 0] (the tower reads none)."""
    import torch

    from recaug.models.user_tower import UserInputs

    def part(name, dtype):
        return named[name] if name in named else torch.zeros((batch, 0), dtype=dtype)

    return UserInputs(part("user_categorical", torch.int64), part("user_numeric", torch.float32),
                      part("user_profile", torch.float32))
