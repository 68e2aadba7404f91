"""The user tower: declared attributes and the LLM profile embedding as one user vector.

A history says what a user likes only once there is one; attributes (age, gender,
occupation, region) and the profile are there before. The tower turns them into a
hidden-size vector that `FusionSASRec` adds to the sequence's user vector through a
gate that is open for short histories and closes as the history grows, so a user with
no history still gets a personal ranking and a long history keeps its own.

Categorical attributes get an embedding per value (0 = missing or unseen in training);
numeric ones are standardised and also cut into training quantiles, each quantile
embedded (a linear term cannot say "ages 30-42 buy audio"). The profile embedding is
projected by a layer that starts at zero: profiles are only visible after the events
they summarise, so a training set may hold none, and an untrained projection must then
add nothing.

`UserFeatureSpec` (recaug.models.user_spec, torch-free for the gateway) is what the model
learnt the codes from; it is saved in params.json so that export and the gateway encode a
user exactly as training did.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from recaug.models.user_spec import CATEGORICAL, NUMERIC, NUMERIC_BUCKETS, PROFILE, UserFeatureSpec

__all__ = ["CATEGORICAL", "NUMERIC", "NUMERIC_BUCKETS", "PROFILE", "UserFeatureSpec", "UserInputs", "UserTower"]


@dataclass(frozen=True)
class UserInputs:
    """Tower inputs for a batch: categorical int64 [B, C], numeric float32 [B, K] (NaN =
    missing), profile float32 [B, P] (zeros = none)."""

    categorical: torch.Tensor
    numeric: torch.Tensor
    profile: torch.Tensor

    def take(self, rows) -> "UserInputs":
        rows = torch.as_tensor(rows, dtype=torch.long)
        return UserInputs(self.categorical[rows], self.numeric[rows], self.profile[rows])

    def to(self, device) -> "UserInputs":
        return UserInputs(self.categorical.to(device), self.numeric.to(device), self.profile.to(device))


class UserTower(nn.Module):
    """UserInputs + history length -> gate(length) x user vector [B, H]."""

    def __init__(self, hidden: int, spec: UserFeatureSpec):
        super().__init__()
        self.spec = spec
        self.categorical = nn.ModuleList(
            nn.Embedding(len(values) + 1, hidden, padding_idx=0) for values in spec.categorical.values())
        numeric = list(spec.numeric.values())
        self.register_buffer("numeric_mean", torch.tensor([n["mean"] for n in numeric], dtype=torch.float32))
        self.register_buffer("numeric_std", torch.tensor([n["std"] for n in numeric], dtype=torch.float32))
        width = max([len(n["edges"]) for n in numeric], default=0)
        # edges padded with +inf: a value is never above a missing edge
        edges = torch.full((len(numeric), width), float("inf"))
        for row, n in enumerate(numeric):
            edges[row, :len(n["edges"])] = torch.tensor(n["edges"], dtype=torch.float32)
        self.register_buffer("numeric_edges", edges)
        self.numeric_linear = nn.Linear(len(numeric), hidden) if numeric else None
        self.numeric_buckets = nn.ModuleList(nn.Embedding(width + 2, hidden, padding_idx=0) for _ in numeric)
        for embedding in [*self.categorical, *self.numeric_buckets]:
            nn.init.normal_(embedding.weight, std=0.02)
            with torch.no_grad():
                embedding.weight[0].zero_()
        self.profile = nn.Linear(spec.profile_dim, hidden) if spec.profile_dim else None
        if self.profile is not None:
            nn.init.zeros_(self.profile.weight)
            nn.init.zeros_(self.profile.bias)
        # gate = sigmoid(shift + slope * log1p(history length)): 0.5 with no history, ~0.16 at 20 events
        self.gate_shift = nn.Parameter(torch.tensor(0.0))
        self.gate_slope = nn.Parameter(torch.tensor(-0.55))

    def forward(self, user: UserInputs, history_length: torch.Tensor) -> torch.Tensor:
        parts = [embedding(user.categorical[:, i]) for i, embedding in enumerate(self.categorical)]
        if self.numeric_linear is not None:
            numeric = user.numeric.to(self.numeric_mean.dtype)
            missing = torch.isnan(numeric)
            standard = torch.where(missing, torch.zeros_like(numeric), (numeric - self.numeric_mean) / self.numeric_std)
            parts.append(self.numeric_linear(standard))
            filled = torch.where(missing, torch.full_like(numeric, float("-inf")), numeric)
            bucket = (filled.unsqueeze(-1) >= self.numeric_edges).sum(dim=-1) + 1
            bucket = torch.where(missing, torch.zeros_like(bucket), bucket)
            parts.extend(embedding(bucket[:, i]) for i, embedding in enumerate(self.numeric_buckets))
        if self.profile is not None:
            parts.append(self.profile(user.profile.to(self.profile.weight.dtype)))
        vector = torch.stack(parts).sum(dim=0)
        gate = torch.sigmoid(self.gate_shift + self.gate_slope * torch.log1p(history_length.to(vector.dtype)))
        return gate.unsqueeze(-1) * vector
