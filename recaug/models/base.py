"""The two interfaces every recommender in the harness implements.

`Recommender` is what evaluation needs: scores over the whole catalogue for a batch of
left-padded histories. `SequentialRecommender` is the torch model the trainer fits and
the exporter wraps: a user vector per history and one matrix of item vectors, so that
`scores = user_vector @ item_matrix().T`.
"""

from __future__ import annotations

import abc

import torch
from torch import nn


class Recommender(abc.ABC):
    """Scores all N+1 vocabulary indices (index 0 = padding) for each history."""

    name: str = "recommender"
    # scores ignore how much left padding a history carries, so batches may be cut to their longest history
    padding_invariant: bool = True

    @abc.abstractmethod
    def score(self, history: torch.Tensor, timestamps: torch.Tensor, now: torch.Tensor) -> torch.Tensor:
        """history/timestamps int64 [B, L] left-padded with 0, now int64 [B] -> float [B, N+1]."""


class SequentialRecommender(nn.Module, Recommender):
    """A neural sequential model trained with cross-entropy over the full catalogue."""

    @abc.abstractmethod
    def item_matrix(self) -> torch.Tensor:
        """Item vectors [N+1, H'] (H' >= hidden size when a model appends extra channels); row 0 (padding) is zero."""

    @abc.abstractmethod
    def encode(self, history: torch.Tensor, timestamps: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Hidden state after each event [B, L, H], reading only earlier events."""

    def encode_last(self, history: torch.Tensor, timestamps: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Hidden state after the newest event [B, H]: all that scoring needs. Models that can
        skip the other positions' work override this (it is what Triton runs per request)."""
        return self.encode(history, timestamps, items)[:, -1]

    def readout(self, hidden: torch.Tensor, last_item: torch.Tensor, last_ts: torch.Tensor,
                now: torch.Tensor) -> torch.Tensor:
        """User vectors from hidden states and the query time (shapes broadcast: [..., H] and [...])."""
        return hidden

    @property
    def user_spec(self):
        """The `UserFeatureSpec` of the model's user tower, None when it reads histories only."""
        return None

    def personalise(self, vectors: torch.Tensor, user, history_length: torch.Tensor) -> torch.Tensor:
        """User vectors [M, H'] + what the user tower says about these users (`UserInputs` or None)."""
        return vectors

    def user_vector(self, history: torch.Tensor, timestamps: torch.Tensor, now: torch.Tensor,
                    user=None) -> torch.Tensor:
        hidden = self.encode_last(history, timestamps, self.item_matrix())
        vectors = self.readout(hidden, history[:, -1], timestamps[:, -1], now)
        return self.personalise(vectors, user, (history > 0).sum(dim=1))

    def score(self, history: torch.Tensor, timestamps: torch.Tensor, now: torch.Tensor, user=None) -> torch.Tensor:
        items = self.item_matrix()
        hidden = self.encode_last(history, timestamps, items)
        vectors = self.readout(hidden, history[:, -1], timestamps[:, -1], now)
        return self.personalise(vectors, user, (history > 0).sum(dim=1)) @ items.T
