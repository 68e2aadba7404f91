"""Item feature tables: content (attributes, LLM keywords and attributes, embedding) and popularity snapshots."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recaug.features.enrichment import COLUMNS as ATTRIBUTE_COLUMNS
from recaug.features.snapshots import buckets, unix_seconds, visible_at
from recaug.features.tables import TIMESTAMP

if TYPE_CHECKING:
    import pandas as pd

    from recaug.features.inputs import Embeddings


def item_content(
    events: "pd.DataFrame",
    items: "pd.DataFrame",
    enrichment: "pd.DataFrame | None",
    embeddings: "Embeddings | None",
    default_dim: int,
    attributes: "pd.DataFrame",
) -> "pd.DataFrame":
    """One row per catalogue or interacted item, keyed at the time it was first seen.

    `attributes` is `attribute_columns(enrichment)[0]` (parsed once by the caller, which
    also reports what did not parse).

    Items without an embedding get a zero vector and `has_embedding=False`, so the table
    keeps one fixed vector length and consumers can tell real vectors from fillers.
    """
    import numpy as np
    import pandas as pd

    first_event = events.groupby("item_id")["timestamp"].min()
    known = pd.Index(items["item_id"]).union(pd.Index(first_event.index))
    out = items.drop_duplicates("item_id", keep="last").set_index("item_id").reindex(known)
    out.index.name = "item_id"
    out = out.reset_index()
    first_seen = pd.concat([out["first_seen"], out["item_id"].map(first_event)], axis=1).min(axis=1)
    first_seen = first_seen.fillna(events["timestamp"].max()).astype("datetime64[ns, UTC]")
    out[TIMESTAMP] = first_seen
    out["first_seen_unix"] = unix_seconds(first_seen)

    for column, values in _enrichment_columns(enrichment).items():
        out[column] = out["item_id"].map(values).fillna("") if values else ""
    attributes = attributes.set_index("item_id")
    for column in ATTRIBUTE_COLUMNS:
        out[column] = out["item_id"].map(attributes[column]).fillna("")

    dim = embeddings.dim if embeddings is not None and embeddings.dim else default_dim
    vectors = np.zeros((len(out), dim), dtype=np.float32)
    encoders = np.full(len(out), "", dtype=object)
    has_embedding = np.zeros(len(out), dtype=bool)
    if embeddings is not None:
        positions = embeddings.positions()
        rows = out["item_id"].map(positions)
        found = rows.notna().to_numpy()
        source_rows = rows[found].astype(int).to_numpy()
        vectors[found] = embeddings.vectors[source_rows]
        encoders[found] = np.asarray(embeddings.encoders, dtype=object)[source_rows]
        has_embedding = found
    out["embedding"] = list(vectors)
    out["has_embedding"] = has_embedding
    out["encoder"] = encoders
    return out


def _enrichment_columns(enrichment: "pd.DataFrame | None") -> dict[str, dict[str, str]]:
    """item_id -> keywords, and -> the description when an LLM wrote it (template rows, used
    when the LLM failed or the run's budget was spent, are not LLM descriptions)."""
    import pandas as pd

    if enrichment is None:
        return {"keywords": {}, "llm_description": {}}
    ids = enrichment["item_id"].astype(str)
    written = pd.Series(True, index=enrichment.index)
    for template in ("fallback", "deferred"):
        if template in enrichment:
            written &= ~enrichment[template].fillna(False).astype(bool)
    return {"keywords": dict(zip(ids, enrichment["keywords"].fillna(""))),
            "llm_description": dict(zip(ids[written], enrichment["description"][written].fillna("")))}


def item_popularity(events: "pd.DataFrame", every: str, window_days: int) -> "pd.DataFrame":
    """Running popularity per item, one row per (item, active bucket)."""
    import numpy as np
    import pandas as pd

    ev = events[["item_id", "user_id", "timestamp"]].sort_values(["item_id", "timestamp"], kind="stable")
    ev = ev.assign(bucket=buckets(ev["timestamp"], every), new_user=~ev.duplicated(["item_id", "user_id"]))
    per_bucket = ev.groupby(["item_id", "bucket"], sort=True).agg(
        item_n_events=("user_id", "size"), item_n_users=("new_user", "sum"), last_ts=("timestamp", "max")
    )
    out = per_bucket[["item_n_events", "item_n_users"]].groupby(level="item_id").cumsum().reset_index()
    out["last_ts"] = per_bucket["last_ts"].to_numpy()

    window = pd.Timedelta(days=window_days).value
    recent = np.zeros(len(out), dtype=np.int64)
    times = ev["timestamp"].astype("int64").to_numpy()
    snapshot_ends = out["last_ts"].astype("int64").to_numpy()
    event_rows = ev.groupby("item_id", sort=True).indices
    snapshot_rows = out.groupby("item_id", sort=True).indices
    for item_id, rows in snapshot_rows.items():
        item_times = times[event_rows[item_id]]  # sorted: ev is ordered by item, time
        ends = snapshot_ends[rows]
        recent[rows] = np.searchsorted(item_times, ends, "right") - np.searchsorted(item_times, ends - window, "right")
    out["item_n_events_recent"] = recent
    out["item_last_event_unix"] = unix_seconds(out["last_ts"])
    out[TIMESTAMP] = visible_at(out["last_ts"])
    for column in ("item_n_events", "item_n_users"):
        out[column] = out[column].astype("int64")
    return out
