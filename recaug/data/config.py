"""Configuration of data generation, loading and versioning."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SynthConfig(BaseModel):
    """Synthetic marketplace (`recaug data synth`)."""

    seed: int = 7
    n_users: int = 600
    n_items: int = 1500
    n_interactions: int = 40_000
    n_topics: int = 12
    n_days: int = 30
    start: str = Field("2026-01-01", description="first day of activity (UTC date)")
    chunk_rows: int = Field(500_000, description="rows generated and written per chunk")


class VersioningConfig(BaseModel):
    """DVC versioning of accepted and derived data."""

    enabled: bool = True
    remote_url: str | None = Field(
        None, description="DVC remote (local folder, s3://..., gs://...); default <lake>/../dvc-remote"
    )


class DataConfig(BaseModel):
    synth: SynthConfig = SynthConfig()
    versioning: VersioningConfig = VersioningConfig()
