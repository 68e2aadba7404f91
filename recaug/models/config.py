"""Hyper-parameters of the sequential recommender."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ModelConfig(BaseModel):
    hidden_size: int = Field(64, description="embedding and transformer width")
    num_layers: int = Field(2, description="transformer blocks")
    max_length: int = Field(50, description="longest history the model reads")
