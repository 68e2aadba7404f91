"""Layers shared by the sequential models: item fusion, time encodings, causal attention.

Everything here is written with tensor operations only (no Python branches on tensor
values), so models built from it trace through `torch.onnx.export(dynamo=True)` with a
dynamic batch size and history length.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400


@dataclass
class ItemFeatures:
    """Per-item side information, row i = vocabulary index i (row 0 = padding).

    The tensors become buffers of the model, so a saved checkpoint carries them and
    `item_matrix()` needs no arguments at serving time.
    """

    text: torch.Tensor  # float32 [N+1, D]; zeros where an item has no text embedding
    categories: torch.Tensor  # int64 [N+1, C]; 0 = none
    brand: torch.Tensor  # int64 [N+1]; 0 = unknown
    price_bucket: torch.Tensor  # int64 [N+1]; 0 = unknown
    train_count: torch.Tensor  # int64 [N+1]; observed training interactions per item
    num_categories: int = 1
    num_brands: int = 1
    # int64 [N+1, K]: the LLM's attributes as "key=value" ids (0 = none; K = 0 without enrichment)
    llm_attributes: torch.Tensor | None = None
    num_llm_attributes: int = 1

    def __post_init__(self):
        if self.llm_attributes is None:
            self.llm_attributes = torch.zeros(self.brand.shape[0], 0, dtype=torch.long)

    @classmethod
    def empty(cls, num_items: int, text_dim: int = 0, max_categories: int = 1) -> "ItemFeatures":
        """Features with no side information (ID-only models, or shapes before loading a checkpoint)."""
        n = num_items + 1
        return cls(
            text=torch.zeros(n, text_dim),
            categories=torch.zeros(n, max_categories, dtype=torch.long),
            brand=torch.zeros(n, dtype=torch.long),
            price_bucket=torch.zeros(n, dtype=torch.long),
            train_count=torch.zeros(n, dtype=torch.long),
        )

    def shape_spec(self) -> dict[str, int]:
        """What `params.json` records to rebuild empty buffers of the right shapes."""
        return {
            "text_dim": int(self.text.shape[1]),
            "max_categories": int(self.categories.shape[1]),
            "num_categories": int(self.num_categories),
            "num_brands": int(self.num_brands),
            "max_llm_attributes": int(self.llm_attributes.shape[1]),
            "num_llm_attributes": int(self.num_llm_attributes),
        }

    @classmethod
    def from_spec(cls, num_items: int, spec: dict[str, int]) -> "ItemFeatures":
        features = cls.empty(num_items, spec["text_dim"], spec["max_categories"])
        features.num_categories = spec["num_categories"]
        features.num_brands = spec["num_brands"]
        # models saved before LLM attributes existed have none
        features.llm_attributes = torch.zeros(num_items + 1, spec.get("max_llm_attributes", 0), dtype=torch.long)
        features.num_llm_attributes = spec.get("num_llm_attributes", 1)
        return features

    def tensors(self) -> dict[str, torch.Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), torch.Tensor)}


def log_bucket(seconds: torch.Tensor, num_buckets: int) -> torch.Tensor:
    """Bucket 1 + floor(log2(seconds + 1)), clipped to [1, num_buckets - 1]; 0 stays reserved."""
    value = torch.log2(seconds.clamp(min=0).to(torch.float32) + 1.0)
    return (value.floor().to(torch.long) + 1).clamp(1, num_buckets - 1)


class ItemEncoder(nn.Module):
    """Item vectors = content (text + attributes) + gate(frequency) * ID embedding.

    Rare and cold items get a small ID gate, so their vector is mostly content; during
    training `id_dropout` hides whole ID rows so that content alone must rank well.
    """

    def __init__(self, num_items: int, hidden: int, features: ItemFeatures, *, use_text: bool,
                 use_attributes: bool, fusion: str, id_dropout: float, price_buckets: int):
        super().__init__()
        self.num_items = num_items
        self.use_text = use_text and features.text.shape[1] > 0
        self.use_attributes = use_attributes
        self.fusion = fusion
        self.id_dropout = id_dropout
        self.feature_spec = features.shape_spec()
        self.id_embedding = nn.Embedding(num_items + 1, hidden, padding_idx=0)
        nn.init.normal_(self.id_embedding.weight, std=0.02)
        for name, tensor in features.tensors().items():
            self.register_buffer(name, tensor.clone())
        if self.use_text:
            # no LayerNorm here: it would give content vectors norm ~sqrt(H), drowning the 0.02-scale ID embeddings
            self.text_projection = nn.Linear(features.text.shape[1], hidden)
        if self.use_attributes:
            self.category_embedding = nn.Embedding(max(features.num_categories, 1) + 1, hidden, padding_idx=0)
            self.brand_embedding = nn.Embedding(max(features.num_brands, 1) + 1, hidden, padding_idx=0)
            self.price_embedding = nn.Embedding(price_buckets + 1, hidden, padding_idx=0)
            for emb in (self.category_embedding, self.brand_embedding, self.price_embedding):
                nn.init.normal_(emb.weight, std=0.02)
        self.use_llm_attributes = use_attributes and features.llm_attributes.shape[1] > 0
        if self.use_llm_attributes:
            self.llm_attribute_embedding = nn.Embedding(features.num_llm_attributes + 1, hidden, padding_idx=0)
            nn.init.normal_(self.llm_attribute_embedding.weight, std=0.02)
        # gate = sigmoid(scale * log1p(count) + shift): starts near 0.27 for cold items, ~1 for popular ones
        self.gate_scale = nn.Parameter(torch.tensor(1.0))
        self.gate_shift = nn.Parameter(torch.tensor(-1.0))

    @property
    def has_content(self) -> bool:
        return self.use_text or self.use_attributes

    def content(self) -> torch.Tensor:
        parts = []
        if self.use_text:
            parts.append(self.text_projection(self.text))
        if self.use_attributes:
            cats = self.categories
            cat_sum = self.category_embedding(cats).sum(dim=1)
            cat_count = (cats > 0).sum(dim=1, keepdim=True).clamp(min=1).to(cat_sum.dtype)
            parts.append(cat_sum / cat_count + self.brand_embedding(self.brand) + self.price_embedding(self.price_bucket))
        if self.use_llm_attributes:  # mean of the item's LLM attribute embeddings (zero when it has none)
            ids = self.llm_attributes
            count = (ids > 0).sum(dim=1, keepdim=True).clamp(min=1)
            attribute_sum = self.llm_attribute_embedding(ids).sum(dim=1)
            parts.append(attribute_sum / count.to(attribute_sum.dtype))
        return torch.stack(parts).sum(dim=0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # models saved before LLM attributes existed carry no such buffer
        state_dict.setdefault(prefix + "llm_attributes", torch.zeros_like(self.llm_attributes))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self) -> torch.Tensor:
        ids = self.id_embedding.weight
        if not self.has_content:
            return ids
        if self.training and self.id_dropout > 0:
            keep = torch.rand(ids.shape[0], 1, device=ids.device) >= self.id_dropout
            ids = ids * keep.to(ids.dtype)
        if self.fusion == "gate":
            frequency = torch.log1p(self.train_count.to(ids.dtype)).unsqueeze(1)
            ids = ids * torch.sigmoid(self.gate_scale * frequency + self.gate_shift)
        items = self.content() + ids
        not_padding = (torch.arange(items.shape[0], device=items.device) > 0).unsqueeze(1)
        return items * not_padding.to(items.dtype)


class TextChannel(nn.Module):
    """A text-similarity score that stays inside the model's single dot product.

    The unit text vectors are reduced to `dim` principal components (so the extra columns
    cost little in the full-catalogue softmax) and re-normalised. User side: `alpha` x the
    normalised, recency-weighted mean of the history's reduced vectors. Item side: w(count) x
    the item's reduced vector, w a learned softplus of log training frequency that starts
    large for rare items. Appended as extra columns, it adds alpha * w_i * cos(profile, text_i)
    to every score, so items nobody has interacted with yet still rank by content.

    One more column carries the cold-item boost: items with fewer than `cold_count` fitted
    events gain `cold_bias + cold_similarity * cos(profile, text_i)`. Training leaves it at
    zero (training memorises rare items by their ID, which does not carry over to new
    events); `recaug.train.cold_start` sets it after training on validation cases.
    """

    def __init__(self, text: torch.Tensor, dim: int, decay: float):
        super().__init__()
        self.decay = decay
        self.register_buffer("reduced_text", reduce_text(text, dim))
        self.log_alpha = nn.Parameter(torch.tensor(1.0))
        # w(count) = softplus(shift + slope * log1p(count)): ~2.1 for unseen items, ~0.3 at 100 events
        self.shift = nn.Parameter(torch.tensor(2.0))
        self.slope = nn.Parameter(torch.tensor(-0.5))
        self.register_buffer("cold_count", torch.tensor(0))
        self.register_buffer("cold_bias", torch.tensor(0.0))
        self.register_buffer("cold_similarity", torch.tensor(0.0))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # models saved before the boost existed (e.g. a champion the gate re-evaluates) load without one
        for name in ("cold_count", "cold_bias", "cold_similarity"):
            state_dict.setdefault(prefix + name, torch.zeros_like(getattr(self, name)))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def set_cold_boost(self, cold_count: int, bias: float, similarity: float) -> None:
        self.cold_count.fill_(cold_count)
        self.cold_bias.fill_(bias)
        self.cold_similarity.fill_(similarity)

    def item_columns(self, train_count: torch.Tensor) -> torch.Tensor:
        text = self.reduced_text
        weight = F.softplus(self.shift + self.slope * torch.log1p(train_count.to(text.dtype)))
        cold = (train_count < self.cold_count).to(text.dtype)
        # the user side is alpha x a unit profile, so the boost's similarity weight is divided by alpha
        weight = weight + cold * self.cold_similarity / torch.exp(self.log_alpha)
        return torch.cat([text * weight.unsqueeze(1), (cold * self.cold_bias).unsqueeze(1)], dim=1)

    def user_columns(self, history: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """The text profile after every event [B, L, dim] (event t sees events <= t, newest weighs 1);
        [B, 1, dim] after the newest event only with `last_only`."""
        text = self.reduced_text
        positions = torch.arange(history.shape[1], device=history.device)
        queries = positions[-1:] if last_only else positions
        age = (queries.unsqueeze(1) - positions.unsqueeze(0)).to(text.dtype)  # [query, key]
        weights = torch.where(age >= 0, torch.pow(torch.full_like(age, self.decay), age.clamp(min=0)),
                              torch.zeros_like(age))
        weights = weights.unsqueeze(0) * (history > 0).to(text.dtype).unsqueeze(1)  # [B, L, L]
        profile = torch.bmm(weights, nn.functional.embedding(history, text))
        profile = F.normalize(profile, dim=-1, eps=1e-8) * torch.exp(self.log_alpha)
        return torch.cat([profile, torch.ones_like(profile[..., :1])], dim=-1)  # x the cold-boost column


def reduce_text(text: torch.Tensor, dim: int) -> torch.Tensor:
    """Unit text vectors -> their top-`dim` principal components, re-normalised; zero rows stay zero."""
    unit = F.normalize(text.float(), dim=1, eps=1e-8)
    present = unit.abs().sum(dim=1, keepdim=True) > 0
    dim = min(dim, unit.shape[1])
    if int(present.sum()) <= dim:  # too few texts to estimate components (or empty features before loading)
        return torch.zeros(unit.shape[0], dim)
    center = unit[present.squeeze(1)].mean(dim=0, keepdim=True)
    _, _, basis = torch.linalg.svd(unit[present.squeeze(1)] - center, full_matrices=False)
    reduced = (unit - center) @ basis[:dim].T
    return F.normalize(reduced, dim=1, eps=1e-8) * present.to(reduced.dtype)


class EventTimeEncoder(nn.Module):
    """Embeds, per event, the log gap since the previous event and the hour/day of week."""

    def __init__(self, hidden: int, num_buckets: int):
        super().__init__()
        self.num_buckets = num_buckets
        self.gap = nn.Embedding(num_buckets, hidden)
        self.hour = nn.Embedding(24, hidden)
        self.weekday = nn.Embedding(7, hidden)
        for emb in (self.gap, self.hour, self.weekday):
            nn.init.normal_(emb.weight, std=0.02)

    def forward(self, history: torch.Tensor, timestamps: torch.Tensor) -> torch.Tensor:
        previous_ts = torch.cat([torch.zeros_like(timestamps[:, :1]), timestamps[:, :-1]], dim=1)
        previous_valid = torch.cat([torch.zeros_like(history[:, :1]), history[:, :-1]], dim=1) > 0
        gap = torch.where(previous_valid, log_bucket(timestamps - previous_ts, self.num_buckets),
                          torch.zeros_like(timestamps))
        hour = torch.remainder(torch.div(timestamps, SECONDS_PER_HOUR, rounding_mode="floor"), 24)
        weekday = torch.remainder(torch.div(timestamps, SECONDS_PER_DAY, rounding_mode="floor") + 3, 7)
        return self.gap(gap) + self.hour(hour) + self.weekday(weekday)


class RecencyEncoder(nn.Module):
    """Embeds the time from the last event to the request (`now`), bucket 0 for an empty history."""

    def __init__(self, hidden: int, num_buckets: int):
        super().__init__()
        self.num_buckets = num_buckets
        self.embedding = nn.Embedding(num_buckets, hidden)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, last_item: torch.Tensor, last_ts: torch.Tensor, now: torch.Tensor) -> torch.Tensor:
        bucket = torch.where(last_item > 0, log_bucket(now - last_ts, self.num_buckets), torch.zeros_like(now))
        return self.embedding(bucket)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention under a boolean mask (no attention-weight dropout: on CPU
    sampling an [B, heads, L, L] mask costs more than the attention itself)."""

    def __init__(self, hidden: int, heads: int):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden_size {hidden} must be divisible by num_heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        """[B, L, H] -> [B, L, H]; with `last_only` only the newest position queries: [B, 1, H]."""
        batch, length, hidden = x.shape
        q, k, v = self.qkv(x).view(batch, length, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
        if last_only:
            q, mask = q[:, :, -1:], mask[:, :, -1:]
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(attended.transpose(1, 2).reshape(batch, q.shape[2], hidden))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block (attention + feed-forward, both residual)."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden)
        self.attention = CausalSelfAttention(hidden, heads)
        self.feed_forward_norm = nn.LayerNorm(hidden)
        self.feed_forward = nn.Sequential(
            nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * hidden, hidden)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, last_only: bool = False) -> torch.Tensor:
        attended = self.attention(self.attention_norm(x), mask, last_only)
        x = (x[:, -1:] if last_only else x) + self.dropout(attended)
        return x + self.dropout(self.feed_forward(self.feed_forward_norm(x)))


def causal_padding_mask(history: torch.Tensor) -> torch.Tensor:
    """Boolean [B, 1, L, L]: attend to earlier real events and always to oneself (no empty rows)."""
    length = history.shape[1]
    positions = torch.arange(length, device=history.device)
    causal = positions.unsqueeze(0) <= positions.unsqueeze(1)  # [L, L], key <= query
    key_valid = (history > 0).unsqueeze(1).unsqueeze(1)  # [B, 1, 1, L]
    itself = positions.unsqueeze(0) == positions.unsqueeze(1)
    return (causal.unsqueeze(0).unsqueeze(0) & key_valid) | itself


def distance_positions(history: torch.Tensor, max_length: int) -> torch.Tensor:
    """Position = distance from the most recent event (left padding keeps the newest at the end)."""
    length = history.shape[1]
    distance = length - 1 - torch.arange(length, device=history.device)
    return distance.clamp(max=max_length - 1).unsqueeze(0).expand_as(history)
