"""Configuration of the text-embedding job."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EmbedConfig(BaseModel):
    batch_size: int = Field(64, description="texts per encoder batch")
