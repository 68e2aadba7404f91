"""Configuration of feature fusion and the Feast store.

The online store is chosen by its `type` field, the way Feast itself does it: the
embedded default is SQLite inside the lake's `feast/` folder; production points at
Redis. Secrets never live here: the Redis connection string may reference an
environment variable (`${RECAUG_REDIS_URL}`) that Feast expands when it loads the
rendered `feature_store.yaml`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field


class SqliteOnlineStoreConfig(BaseModel):
    type: Literal["sqlite"] = Field("sqlite", description="embedded SQLite online store")
    path: str | None = Field(None, description="SQLite file; default <lake>/feast/online_store.db")


class RedisOnlineStoreConfig(BaseModel):
    type: Literal["redis"] = Field("redis", description="Redis online store (production)")
    connection_string: str = Field(
        "${RECAUG_REDIS_URL}",
        description="Feast redis connection string (host:port,db=0,...); ${VAR} is expanded by Feast at load time",
    )
    key_ttl_seconds: int | None = Field(None, description="expire online rows after this many seconds (None: never)")


OnlineStoreConfig = Annotated[Union[SqliteOnlineStoreConfig, RedisOnlineStoreConfig], Field(discriminator="type")]


class FeaturesConfig(BaseModel):
    include_augmented: bool = Field(True, description="fuse augmented interactions into behaviour and popularity features")
    history_length: int = Field(50, ge=1, description="recent items kept per user for serving")
    snapshot_every: str = Field(
        "1D",
        description="bucket of the point-in-time snapshots (pandas offset alias): one behaviour/history row per user per active bucket",
    )
    top_categories: int = Field(5, ge=1, description="category shares kept per user (largest first)")
    embedding_dim: int = Field(384, ge=1, description="length of the zero vector used when no embeddings table exists")
    popularity_window_days: int = Field(7, ge=1, description="window of the recent-popularity count of items")
    profile_versions: int = Field(
        30, ge=1, description="profile embeddings kept per user, one per night it changed, so training positions "
        "between nights read the profile of the night before them (recaug.train.user_features)")
    ttl_days: int = Field(0, ge=0, description="Feast feature-view TTL in days (0: features never expire)")
    project: str = Field("recaug", description="Feast project name")
    repo_path: str | None = Field(None, description="Feast repository with the definitions; default: feature_repo/ of the checkout")
    offline_path: str | None = Field(
        None, description="where the Parquet feature tables live (local path or s3:// URL); default <lake>/features"
    )
    s3_endpoint_override: str | None = Field(None, description="S3-compatible endpoint for an object-store offline path")
    registry_path: str | None = Field(None, description="Feast registry file (local or s3:// / gs://); default <lake>/feast/registry.db")
    online_store: OnlineStoreConfig = Field(SqliteOnlineStoreConfig(), description="online store backend, chosen by `type`")
    server_host: str = Field("127.0.0.1", description="address `recaug features serve` binds")
    server_start_timeout: float = Field(90.0, gt=0, description="seconds to wait for the feature server to become healthy")
