"""Configuration of data generation, loading and versioning."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SynthConfig(BaseModel):
    """Synthetic marketplace (`recaug data synth`). One landing batch per day; memory
    is bounded by the busiest day, not by the total size."""

    seed: int = Field(7, description="same seed and settings, same bytes")
    n_users: int = Field(600, ge=1, description="users who sign up over the period")
    n_items: int = Field(1500, ge=2, description="items listed over the period")
    n_interactions: int = Field(40_000, ge=1, description="total events over all days")
    n_topics: int = Field(12, ge=1, le=20, description="latent topics (each has its own vocabulary)")
    n_days: int = Field(30, ge=1, description="days of activity, one landing batch each")
    start: str = Field("2026-01-01", description="first day of activity (UTC date)")
    max_rows_per_day: int = Field(
        2_000_000, ge=1, description="refuse settings whose busiest day exceeds this (the day is the unit held in memory)"
    )
    initial_item_share: float = Field(0.6, ge=0, le=1, description="share of items listed on day one; the rest arrive later")
    initial_user_share: float = Field(0.4, ge=0, le=1, description="share of users signed up on day one; the rest join later")
    popularity_exponent: float = Field(0.9, ge=0, description="Zipf exponent of item popularity (0 = uniform)")
    activity_sigma: float = Field(2.0, gt=0, description="spread of log user activity (larger = more sparse users)")
    mean_session_length: float = Field(4.0, ge=1, description="average events per session")
    successor_prob: float = Field(0.55, ge=0, le=1, description="chance the next event is a successor of the previous item")
    same_topic_prob: float = Field(0.25, ge=0, le=1, description="chance the next event stays in the topic (by popularity)")
    complement_topic_prob: float = Field(
        0.5, ge=0, le=1, description="on a topic switch, chance to follow the topic Markov chain rather than the user's mixture"
    )
    novelty_boost: float = Field(4.0, ge=0, description="extra weight of a just-listed item (decays over novelty_days)")
    novelty_days: float = Field(5.0, gt=0, description="decay time of the novelty boost in days")
    drift: float = Field(0.6, ge=0, le=1, description="how far user topic mixtures move from start to end mixture")
    segment_signal: float = Field(
        0.0, ge=0, le=1, description="chance a user's region and age band follow their main topic (0: attributes say "
        "nothing about taste, as before; >0: segments a model can learn from)"
    )


class VersioningConfig(BaseModel):
    """DVC versioning of accepted and derived data."""

    enabled: bool = True
    remote_url: str | None = Field(
        None, description="DVC remote (local folder, s3://..., gs://...); default <lake>/../dvc-remote"
    )


class LoadConfig(BaseModel):
    """Loading a dataset on disk into landing batches (`recaug data load`)."""

    batch_by: Literal["day", "month", "none"] = Field("day", description="one landing batch per UTC day, month, or one batch")


class FetchConfig(BaseModel):
    """Downloading public datasets (`recaug data fetch`)."""

    dest: str = Field("var/datasets", description="folder the datasets are downloaded and extracted into")
    timeout_seconds: float = Field(60.0, gt=0, description="network timeout per request")
    retries: int = Field(3, ge=0, description="resumed retries after a dropped connection")


class DataConfig(BaseModel):
    synth: SynthConfig = SynthConfig()
    load: LoadConfig = LoadConfig()
    fetch: FetchConfig = FetchConfig()
    versioning: VersioningConfig = VersioningConfig()
