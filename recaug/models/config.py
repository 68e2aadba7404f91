"""Hyper-parameters of the sequential recommender (`settings.model.*`).

The defaults are the ones measured on ml-latest-small by `bench/bench_quality.py`;
they are small enough to train on two CPU cores and grow by configuration on a GPU.
Measured there (20 epochs, seed 42): dropping the LayerNorm after the text projection
(it gave content vectors ~50x the norm of the 0.02-scale ID embeddings) and adding the
text channel (64 principal components of MiniLM) took test NDCG@10 from .033 (10 epochs) to
.064 (20 epochs); without the channel .054 and cold-item HR@10 .022 instead of .045.
With the training defaults of recaug.train.config (linear schedule from 2e-3 over 20
epochs, scalar parameters at 10x the learning rate, bf16 autocast, chunked loss), seeds
42/43/44: NDCG@10 .0637/.0655/.0607 (mean .0633), cold-item HR@10 .0337/.0449/.0225
(mean .0337, 89 cold cases); the ID-only ablation .0471 (ours 1.34x); ~115 s of training
on two CPU cores. id_dropout 0.3 lost both (.0614, cold .019). With the cold-item boost
chosen on validation after training (recaug.train.cold_start): NDCG@10 .0634/.0639/.0582
(mean .0618), cold-item HR@10 .0562/.0787/.0899 (mean .0749).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ModelConfig(BaseModel):
    type: Literal["fusion_sasrec", "gru4rec"] = Field(
        "fusion_sasrec", description="which sequential model `recaug train` fits"
    )
    hidden_size: int = Field(64, description="embedding and transformer width (H of the user vector)")
    num_layers: int = Field(2, description="transformer blocks (GRU layers for gru4rec)")
    num_heads: int = Field(2, description="attention heads per block; must divide hidden_size")
    max_length: int = Field(200, description="longest history the model reads (older events are dropped)")
    dropout: float = Field(0.2, description="dropout on embeddings, attention and feed-forward layers")
    use_text: bool = Field(True, description="fuse projected text embeddings (embeddings/items.parquet) into items")
    text_channel: bool = Field(
        True, description="append a text-similarity channel (recency-weighted history text profile . item text, "
        "weighted up for rare items) to the dot product; needs use_text and item text embeddings"
    )
    text_channel_dim: int = Field(
        64, description="text channel: principal components of the item text kept (extra user-vector width)"
    )
    text_profile_decay: float = Field(0.5, description="text channel: weight of an event k steps back is decay**k")
    use_attributes: bool = Field(True, description="fuse category, brand and price-bucket embeddings into items")
    use_llm_attributes: bool = Field(
        True, description="with use_attributes: also embed the LLM's item attributes (the llm_* columns of "
        "features/item_content.parquet, from augment's item enrichment) when that table exists"
    )
    use_time: bool = Field(
        True, description="embed log-bucketed gaps between events, hour/day rhythm and recency (now - last event)"
    )
    fusion: Literal["gate", "sum"] = Field(
        "gate",
        description="gate: the ID embedding is scaled by a learned function of the item's training frequency, "
        "so rare items lean on content; sum: ID + content",
    )
    id_dropout: float = Field(
        0.1, description="probability of hiding an item's ID embedding during training, teaching content-only scoring"
    )
    time_buckets: int = Field(32, description="log2 buckets for time gaps in seconds (0 = unknown/first event)")
    price_buckets: int = Field(10, description="quantile buckets of item price (0 = unknown price)")
    max_categories: int = Field(8, description="categories per item kept for the attribute embedding")
    use_user_features: bool = Field(
        False, description="fusion_sasrec: add a gated user tower over declared user attributes and the LLM profile "
        "embedding (Feast service training_users), so users with short or no history get personal rankings. Off by "
        "default: the ONNX export and the gateway do not pass user features yet, so the served model would not be "
        "the evaluated one"
    )
