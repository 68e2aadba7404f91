"""Configuration of landing-batch validation and ingest."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ValidateConfig(BaseModel):
    min_timestamp: str = Field("1990-01-01", description="earliest plausible event time (UTC)")
    future_tolerance_minutes: int = Field(10, description="clock skew allowed for event times")
    rating_min: float = Field(0.0, description="lowest accepted explicit rating")
    rating_max: float = Field(5.0, description="highest accepted explicit rating")
    max_text_chars: int = Field(20_000, description="longest accepted title/description/tags value")
    max_id_chars: int = Field(256, description="longest accepted user or item id")
    require_known_items: bool = Field(
        True, description="reject interactions whose item is neither in the batch's items nor in curated items"
    )
    sample_values: int = Field(5, description="offending values quoted per failed rule in reports")
    data_docs: bool = Field(True, description="render Great Expectations HTML data docs for rejected batches")
