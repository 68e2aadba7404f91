"""FusionSASRec: a SASRec-style causal transformer over fused, time-aware item events.

Item vectors fuse an ID embedding with projected text embeddings and attribute
embeddings (`layers.ItemEncoder`); the ID part is gated by training frequency so cold
items are represented by content alone. Each event also carries the log gap since the
previous event and its hour/day of week; the user vector adds the recency of the last
event relative to the request time. A text channel (`layers.TextChannel`) appends a
history-text-profile . item-text similarity to the same dot product, weighted up for
rare items, and one column for the cold-item boost chosen after training
(`recaug.train.cold_start`), so scores stay `user_vector @ item_matrix().T` with
H' = hidden + text components + 1. With user features (`models.user_tower`), a gated
attribute/profile vector is added to the first H columns, open for short histories.
Trained with cross-entropy over all items.
"""

from __future__ import annotations

import torch
from torch import nn

from recaug.models.base import SequentialRecommender
from recaug.models.config import ModelConfig
from recaug.models.user_tower import UserFeatureSpec, UserInputs, UserTower
from recaug.models.layers import (
    EventTimeEncoder,
    ItemEncoder,
    ItemFeatures,
    RecencyEncoder,
    TextChannel,
    TransformerBlock,
    causal_padding_mask,
    distance_positions,
)


class FusionSASRec(SequentialRecommender):
    name = "fusion_sasrec"
    has_user_tower = True

    def __init__(self, config: ModelConfig, num_items: int, features: ItemFeatures | None = None,
                 users: UserFeatureSpec | None = None):
        super().__init__()
        features = features if features is not None else ItemFeatures.empty(num_items)
        hidden = config.hidden_size
        self.config = config
        self.num_items = num_items
        self.items = ItemEncoder(
            num_items, hidden, features, use_text=config.use_text, use_attributes=config.use_attributes,
            fusion=config.fusion, id_dropout=config.id_dropout, price_buckets=config.price_buckets,
        )
        self.position = nn.Embedding(config.max_length, hidden)
        nn.init.normal_(self.position.weight, std=0.02)
        self.event_time = EventTimeEncoder(hidden, config.time_buckets) if config.use_time else None
        self.recency = RecencyEncoder(hidden, config.time_buckets) if config.use_time else None
        self.input_norm = nn.LayerNorm(hidden)
        self.input_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(hidden, config.num_heads, config.dropout) for _ in range(config.num_layers)
        )
        self.output_norm = nn.LayerNorm(hidden)
        with_channel = config.use_text and config.text_channel and features.text.shape[1] > 0
        self.text_channel = (
            TextChannel(features.text, config.text_channel_dim, config.text_profile_decay) if with_channel else None
        )
        with_users = config.use_user_features and users is not None and not users.empty
        self.user_tower = UserTower(hidden, users) if with_users else None

    @property
    def user_spec(self) -> UserFeatureSpec | None:
        return self.user_tower.spec if self.user_tower is not None else None

    def personalise(self, vectors: torch.Tensor, user: UserInputs | None, history_length: torch.Tensor) -> torch.Tensor:
        if self.user_tower is None or user is None:
            return vectors
        tower = self.user_tower(user, history_length)
        return vectors + nn.functional.pad(tower.to(vectors.dtype), (0, vectors.shape[-1] - tower.shape[-1]))

    def item_matrix(self) -> torch.Tensor:
        items = self.items()
        if self.text_channel is None:
            return items
        return torch.cat([items, self.text_channel.item_columns(self.items.train_count)], dim=1)

    def encode(self, history: torch.Tensor, timestamps: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, L, H] transformer states, plus the D text-profile columns when the text channel is on."""
        hidden = self._encode_sequence(history, timestamps, items[:, :self.config.hidden_size])
        if self.text_channel is None:
            return hidden
        return torch.cat([hidden, self.text_channel.user_columns(history)], dim=-1)

    def encode_last(self, history: torch.Tensor, timestamps: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, H'] for the newest event; the last block and the text profile skip the other positions."""
        hidden = self._encode_sequence(history, timestamps, items[:, :self.config.hidden_size], last_only=True)[:, -1]
        if self.text_channel is None:
            return hidden
        return torch.cat([hidden, self.text_channel.user_columns(history, last_only=True)[:, -1]], dim=-1)

    def _encode_sequence(self, history: torch.Tensor, timestamps: torch.Tensor, items: torch.Tensor,
                         last_only: bool = False) -> torch.Tensor:
        """[B, L, H], or [B, 1, H] with `last_only` (earlier blocks still need every position)."""
        x = nn.functional.embedding(history, items) + self.position(distance_positions(history, self.config.max_length))
        if self.event_time is not None:
            x = x + self.event_time(history, timestamps)
        valid = (history > 0).unsqueeze(-1).to(x.dtype)
        x = self.input_dropout(self.input_norm(x)) * valid
        mask = causal_padding_mask(history)
        for depth, block in enumerate(self.blocks, start=1):
            x = block(x, mask, last_only=last_only and depth == len(self.blocks))
        return self.output_norm(x)

    def readout(self, hidden: torch.Tensor, last_item: torch.Tensor, last_ts: torch.Tensor,
                now: torch.Tensor) -> torch.Tensor:
        if self.recency is None:
            return hidden
        recency = self.recency(last_item, last_ts, now)
        extra = hidden.shape[-1] - recency.shape[-1]  # text-profile columns are left as they are
        return hidden + nn.functional.pad(recency, (0, extra))
