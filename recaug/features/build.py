"""The fusion stage: curated + augmented + embeddings -> point-in-time feature tables.

`build_features(settings)` writes one Parquet file per Feast feature view under
`features/` and a manifest (`features/_manifest.json`) recording, per table, its hash
and the earliest event time whose rows changed since the previous version. The
materialization step uses that to re-materialize only what changed. A rerun on
unchanged inputs reads nothing but the input hashes and writes nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from pydantic import BaseModel, Field

from recaug import io
from recaug.features import item_tables, user_tables
from recaug.features.enrichment import AttributeStats, attribute_columns
from recaug.features.inputs import input_urls, load_inputs
from recaug.features.tables import TABLES, TIMESTAMP, row_digests, to_arrow

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from recaug.settings import Settings

log = logging.getLogger(__name__)

# Bump when the fusion logic changes, so that unchanged inputs still rebuild the tables.
FUSION_VERSION = "4"  # 2: item_content carries the LLM description; 3: user_attributes; 4: LLM item attributes
MANIFEST = "_manifest.json"


class TableSummary(BaseModel):
    path: str = Field(description="where the Parquet table lives")
    rows: int
    sha256: str = Field(description="hash of the file's bytes")
    min_event_timestamp: datetime | None = None
    max_event_timestamp: datetime | None = None
    changed_rows: int = Field(description="rows added, changed or removed compared with the previous version")
    earliest_change: datetime | None = Field(None, description="oldest event_timestamp among those rows")
    changed_since: str | None = Field(None, description="sha256 of the version the change is relative to (None: first build)")
    written: bool = Field(description="False when the content was identical and the file was left alone")


class FeatureBuildResult(BaseModel):
    skipped: bool = Field(description="inputs and settings unchanged since the last build: nothing was recomputed")
    inputs_hash: str
    include_augmented: bool
    n_events: int
    n_users: int
    n_items: int
    items_without_embedding: int
    tables: dict[str, TableSummary]
    llm_attributes: AttributeStats | None = Field(
        None, description="the LLM's item attributes kept as item_content columns, and what did not parse")


def features_url(settings: "Settings", *parts: str) -> str:
    return io.join(settings.features.offline_path, *parts) if settings.features.offline_path else settings.lake.url("features", *parts)


def read_manifest(settings: "Settings") -> FeatureBuildResult | None:
    url = features_url(settings, MANIFEST)
    return FeatureBuildResult.model_validate(io.read_json(url)) if io.exists(url) else None


def build_features(settings: "Settings") -> FeatureBuildResult:
    inputs_hash = _inputs_hash(settings)
    previous = read_manifest(settings)
    if previous is not None and previous.inputs_hash == inputs_hash and _tables_intact(previous):
        log.info("features: inputs unchanged (%s), keeping %d tables", inputs_hash[:12], len(previous.tables))
        return previous.model_copy(update={"skipped": True})

    cfg = settings.features
    inputs = load_inputs(settings)
    events = inputs.interactions
    log.info("features: fusing %d events (%d augmented) of %d users",
             len(events), int((events["source"] != "observed").sum()), events["user_id"].nunique())
    llm_attributes, llm_attribute_stats = attribute_columns(inputs.item_enrichment)
    builders: dict[str, Callable[["pa.Table | None"], "pd.DataFrame"]] = {  # each gets the table as last built
        "item_content": lambda _: item_tables.item_content(
            events, inputs.items, inputs.item_enrichment, inputs.item_embeddings, cfg.embedding_dim, llm_attributes),
        "item_popularity": lambda _: item_tables.item_popularity(events, cfg.snapshot_every, cfg.popularity_window_days),
        "user_behaviour": lambda _: user_tables.user_behaviour(events, inputs.items, cfg.snapshot_every, cfg.top_categories),
        "user_history": lambda _: user_tables.user_history(events, cfg.snapshot_every, cfg.history_length),
        "user_profile": lambda old: user_tables.user_profile(
            events, inputs.user_embeddings, _earlier_rows(old, "user_profile"), cfg.profile_versions),
        "user_attributes": lambda _: user_tables.user_attributes(inputs.users, events),
    }
    summaries: dict[str, TableSummary] = {}
    items_without_embedding = 0
    for name in TABLES:
        url = features_url(settings, f"{name}.parquet")
        old = io.read_table(url) if io.exists(url) else None  # read once: earlier nights' rows and the change diff
        frame = builders[name](old)
        if name == "item_content":
            items_without_embedding = int((~frame["has_embedding"]).sum())
        summaries[name] = _write_table(url, name, frame, old)
        log.info("features: %s %d rows (%d changed)", name, summaries[name].rows, summaries[name].changed_rows)
        del frame, old  # before the next table is read: at most one table's versions in memory

    result = FeatureBuildResult(
        skipped=False, inputs_hash=inputs_hash, include_augmented=cfg.include_augmented,
        n_events=len(events), n_users=int(events["user_id"].nunique()),
        n_items=summaries["item_content"].rows, items_without_embedding=items_without_embedding, tables=summaries,
        llm_attributes=llm_attribute_stats,
    )
    io.write_json(features_url(settings, MANIFEST), result.model_dump(mode="json"))
    return result


def _inputs_hash(settings: "Settings") -> str:
    cfg = settings.features
    relevant = {
        "fusion_version": FUSION_VERSION,
        "settings": cfg.model_dump(mode="json", include={
            "include_augmented", "history_length", "snapshot_every", "top_categories", "embedding_dim",
            "popularity_window_days", "profile_versions",
        }),
        "inputs": {role: io.sha256_file(url) if io.exists(url) else "absent" for role, url in input_urls(settings).items()},
    }
    return io.content_hash(json.dumps(relevant, sort_keys=True))


def _earlier_rows(old: "pa.Table | None", name: str) -> "pd.DataFrame | None":
    """The table as last built (None when absent or not readable as this table), for tables that
    keep earlier nights' rows."""
    if old is None:
        return None
    key, columns = TABLES[name]
    return old.to_pandas() if {key, TIMESTAMP, *(c for c, _ in columns)} <= set(old.column_names) else None


def _tables_intact(manifest: FeatureBuildResult) -> bool:
    return set(manifest.tables) == set(TABLES) and all(
        io.exists(t.path) and io.sha256_file(t.path) == t.sha256 for t in manifest.tables.values()
    )


def _write_table(url: str, name: str, frame: "pd.DataFrame", old: "pa.Table | None") -> TableSummary:
    """Write the table unless its content is unchanged; report which rows changed since `old`
    (the version on disk; another schema counts as no previous version)."""
    table = to_arrow(name, frame)
    if old is not None and not old.schema.equals(table.schema):
        old = None
    changed_rows, earliest_change = _diff(table, old)
    timestamps = table.column(TIMESTAMP)
    summary = dict(
        path=url, rows=table.num_rows,
        min_event_timestamp=_ts(timestamps, "min"), max_event_timestamp=_ts(timestamps, "max"),
        changed_rows=changed_rows, earliest_change=earliest_change,
    )
    previous_sha = io.sha256_file(url) if old is not None else None
    if old is not None and changed_rows == 0:
        return TableSummary(**summary, sha256=previous_sha, changed_since=previous_sha, written=False)
    return TableSummary(**summary, sha256=io.write_parquet(table, url), changed_since=previous_sha, written=True)


def _diff(new: "pa.Table", old: "pa.Table | None") -> tuple[int, datetime | None]:
    """Rows that differ between versions and the oldest event_timestamp among them."""
    import numpy as np
    import pyarrow as pa

    new_digests = row_digests(new)
    if old is None:
        changed = [new.column(TIMESTAMP)]
    else:
        old_digests = row_digests(old)
        changed = [new.column(TIMESTAMP).filter(pa.array(~np.isin(new_digests, old_digests))),
                   old.column(TIMESTAMP).filter(pa.array(~np.isin(old_digests, new_digests)))]
    count = sum(len(c) for c in changed)
    if count == 0:
        return 0, None
    return count, min(_ts(c, "min") for c in changed if len(c))


def _ts(column, how: str) -> datetime | None:
    import pyarrow.compute as pc

    return (pc.min if how == "min" else pc.max)(column).as_py()
