"""Configuration of LLM augmentation."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AugmentConfig(BaseModel):
    enabled: bool = True
    max_items_per_run: int = Field(200, description="cap on LLM generations per run (cold/long-tail first)")
