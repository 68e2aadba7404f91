"""Item feature views: text content (slow-changing) and popularity (daily snapshots).

Popularity is split from content so that the 384-float embedding is stored once per
item, while counts that change every day get one small row per item per day.
"""

from __future__ import annotations

from entities import item
from feast import FeatureView, Field, FileSource
from feast.types import Array, Bool, Float32, Float64, Int64, String
from locations import S3_ENDPOINT, TTL, table

item_content_source = FileSource(
    name="item_content_source",
    path=table("item_content"),
    timestamp_field="event_timestamp",
    s3_endpoint_override=S3_ENDPOINT,
)

item_content = FeatureView(
    name="item_content",
    entities=[item],
    ttl=TTL,
    schema=[
        Field(name="title", dtype=String),
        Field(name="categories", dtype=String, description="'|'-joined categories / genres"),
        Field(name="brand", dtype=String),
        Field(name="price", dtype=Float64),
        Field(name="keywords", dtype=String, description="'|'-joined LLM keywords (empty when not enriched)"),
        Field(name="llm_description", dtype=String, description="description written by the LLM (empty when not enriched)"),
        Field(name="first_seen_unix", dtype=Int64, description="first catalogue appearance or first interaction"),
        Field(name="embedding", dtype=Array(Float32), description="text embedding; zeros when missing"),
        Field(name="has_embedding", dtype=Bool),
        Field(name="encoder", dtype=String, description="encoder name@version of the embedding"),
        # attributes the LLM wrote for the item (recaug.features.enrichment), "" when none parsed
        *(Field(name=f"llm_{key}", dtype=String, description=f"LLM-written {key} attribute")
          for key in ("audience", "style", "mood", "use", "material", "color", "era", "genre")),
    ],
    source=item_content_source,
    online=True,
    description="item text, attributes and embedding; event_timestamp = first seen",
)

item_popularity_source = FileSource(
    name="item_popularity_source",
    path=table("item_popularity"),
    timestamp_field="event_timestamp",
    s3_endpoint_override=S3_ENDPOINT,
)

item_popularity = FeatureView(
    name="item_popularity",
    entities=[item],
    ttl=TTL,
    schema=[
        Field(name="item_n_events", dtype=Int64, description="events up to the snapshot"),
        Field(name="item_n_users", dtype=Int64, description="distinct users up to the snapshot"),
        Field(name="item_n_events_recent", dtype=Int64, description="events in the popularity window before the snapshot"),
        Field(name="item_last_event_unix", dtype=Int64),
    ],
    source=item_popularity_source,
    online=True,
    description="item popularity and recency, one snapshot per item per active bucket",
)
