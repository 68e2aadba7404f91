"""User feature views: behaviour statistics, recent history, the profile embedding and attributes.

Behaviour and history rows are snapshots: each holds what was known just after the
last event of a time bucket, so a point-in-time join never sees later events. History
is also pushed online between nightly runs (POST /events, recaug.events.online) through
a push source backed by the same Parquet table.
"""

from __future__ import annotations

from entities import user
from feast import FeatureView, Field, FileSource, PushSource
from feast.types import Array, Float32, Float64, Int64, String
from locations import S3_ENDPOINT, TTL, table

user_behaviour_source = FileSource(
    name="user_behaviour_source",
    path=table("user_behaviour"),
    timestamp_field="event_timestamp",
    s3_endpoint_override=S3_ENDPOINT,
)

user_behaviour = FeatureView(
    name="user_behaviour",
    entities=[user],
    ttl=TTL,
    schema=[
        Field(name="n_events", dtype=Int64),
        Field(name="n_items", dtype=Int64, description="distinct items"),
        Field(name="n_augmented", dtype=Int64, description="augmented events included in the counts"),
        Field(name="mean_rating", dtype=Float64, description="NaN when no event has a rating"),
        Field(name="first_event_unix", dtype=Int64),
        Field(name="last_event_unix", dtype=Int64),
        Field(name="active_days", dtype=Int64, description="distinct UTC days with an event"),
        Field(name="mean_gap_hours", dtype=Float64, description="mean time between consecutive events"),
        Field(name="hour_shares", dtype=Array(Float32), description="share of events per UTC hour of day (24)"),
        Field(name="weekday_shares", dtype=Array(Float32), description="share of events per weekday, Monday first (7)"),
        Field(name="top_categories", dtype=Array(String)),
        Field(name="top_category_shares", dtype=Array(Float32)),
    ],
    source=user_behaviour_source,
    online=True,
    description="cumulative behaviour statistics, one snapshot per user per active bucket",
)

user_history_source = FileSource(
    name="user_history_source",
    path=table("user_history"),
    timestamp_field="event_timestamp",
    s3_endpoint_override=S3_ENDPOINT,
)

user_history_push = PushSource(
    name="user_history_push",
    batch_source=user_history_source,
    description="fresh history rows from feedback events; materialization reads the batch source",
)

user_history = FeatureView(
    name="user_history",
    entities=[user],
    ttl=TTL,
    schema=[
        Field(name="history_item_ids", dtype=Array(String), description="last N observed items, oldest first"),
        Field(name="history_timestamps", dtype=Array(Int64), description="their Unix-second times"),
        Field(name="history_length", dtype=Int64),
    ],
    source=user_history_push,
    online=True,
    description="what serving needs to build the model input",
)

user_profile_source = FileSource(
    name="user_profile_source",
    path=table("user_profile"),
    timestamp_field="event_timestamp",
    s3_endpoint_override=S3_ENDPOINT,
)

user_profile = FeatureView(
    name="user_profile",
    entities=[user],
    ttl=TTL,
    schema=[
        Field(name="profile_embedding", dtype=Array(Float32)),
        Field(name="profile_encoder", dtype=String, description="encoder name@version"),
    ],
    source=user_profile_source,
    online=True,
    description="embedding of the LLM-written user profile; visible after the events it summarises",
)

user_attributes_source = FileSource(
    name="user_attributes_source",
    path=table("user_attributes"),
    timestamp_field="event_timestamp",
    s3_endpoint_override=S3_ENDPOINT,
)

user_attributes = FeatureView(
    name="user_attributes",
    entities=[user],
    ttl=TTL,
    schema=[
        Field(name="age", dtype=Float64, description="years; NaN when not given"),
        Field(name="gender", dtype=String),
        Field(name="occupation", dtype=String),
        Field(name="region", dtype=String),
    ],
    source=user_attributes_source,
    online=True,
    description="what the user declared (curated/users.parquet); visible from sign-up",
)
