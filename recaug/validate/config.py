"""Configuration of landing-batch validation."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ValidateConfig(BaseModel):
    min_timestamp: str = Field("1990-01-01", description="earliest plausible event time (UTC)")
    future_tolerance_minutes: int = Field(10, description="clock skew allowed for event times")
    rating_min: float = 0.0
    rating_max: float = 5.0
    max_text_chars: int = Field(20_000, description="longest accepted title/description/tags value")
