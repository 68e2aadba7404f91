"""GRU4Rec baseline (Hidasi et al.): a GRU over ID embeddings, full-catalogue cross-entropy."""

from __future__ import annotations

import torch
from torch import nn

from recaug.models.base import SequentialRecommender
from recaug.models.config import ModelConfig


class GRU4Rec(SequentialRecommender):
    name = "gru4rec"
    padding_invariant = False  # the GRU state drifts over left padding: batches keep max_length

    def __init__(self, config: ModelConfig, num_items: int, features=None):
        super().__init__()
        hidden = config.hidden_size
        self.config = config
        self.num_items = num_items
        self.embedding = nn.Embedding(num_items + 1, hidden, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=0.02)
        self.input_dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(hidden, hidden, num_layers=config.num_layers, batch_first=True,
                          dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.output = nn.Linear(hidden, hidden)

    def item_matrix(self) -> torch.Tensor:
        return self.embedding.weight

    def encode(self, history: torch.Tensor, timestamps: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        # Left padding puts zero vectors first; the state the GRU drifts to over them is learnt like a bias.
        x = self.input_dropout(nn.functional.embedding(history, items))
        output, _ = self.gru(x)
        return self.output(output)
