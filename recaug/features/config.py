"""Configuration of feature fusion and the Feast store."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FeaturesConfig(BaseModel):
    include_augmented: bool = Field(True, description="fuse augmented interactions into behaviour features")
    history_length: int = Field(50, description="recent items kept per user for serving")
