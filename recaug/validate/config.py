"""Configuration of landing-batch validation and ingest."""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, Field, field_validator

from recaug.data.schemas import TS_FIRST


class ValidateConfig(BaseModel):
    min_timestamp: str = Field(
        "1990-01-01", description="earliest plausible event time (UTC); not before 1677-09-21, the first a timestamp can hold"
    )
    future_tolerance_minutes: int = Field(10, description="clock skew allowed for event times")
    rating_min: float = Field(0.0, description="lowest accepted explicit rating")
    rating_max: float = Field(5.0, description="highest accepted explicit rating")
    max_text_chars: int = Field(20_000, description="longest accepted title/description/tags value")
    max_id_chars: int = Field(256, description="longest accepted user or item id")
    max_file_bytes: int = Field(
        1 << 30, gt=0, description="largest landing file (bytes); a bigger one is quarantined without being parsed"
    )
    max_uncompressed_bytes: int = Field(
        2 << 30, gt=0, description="most bytes a Parquet file may decompress to (a few KB of repeated values can expand to GBs); reading stops there"
    )
    max_columns: int = Field(
        64, gt=0, description="most columns a landing file may have; checked on the header or Parquet metadata before reading"
    )
    require_known_items: bool = Field(
        True, description="reject interactions whose item is neither in the batch's items nor in curated items"
    )
    sample_values: int = Field(5, description="offending values quoted per failed rule in reports")
    data_docs: bool = Field(True, description="render Great Expectations HTML data docs for rejected batches")

    @field_validator("min_timestamp")
    @classmethod
    def _representable(cls, value: str) -> str:
        try:
            earliest = pd.Timestamp(value, tz="UTC")
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"validate.min_timestamp {value!r} is not a date: {exc}") from None
        if earliest < TS_FIRST:
            raise ValueError(f"validate.min_timestamp {value!r} is before {TS_FIRST.date()}, the first time the lake can hold")
        return value
