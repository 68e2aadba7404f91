"""Configuration of training, evaluation and the champion gate."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TrainConfig(BaseModel):
    epochs: int = Field(20, description="upper bound on epochs (early stopping usually ends sooner)")
    seed: int = 42
