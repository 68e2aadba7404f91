"""Registering the definitions and materializing features into the online store.

The two are separate steps on purpose: `apply_definitions` runs only when the
definitions (or the store configuration) changed, and `materialize` never applies
(a re-apply during materialization resets Feast's own watermark, Feast issue 2905).
Materialization keeps its own watermark per feature view in `feast/materialize.json`
and is driven by event time, not by a scheduler's data interval: a rerun with no new
or changed feature rows is a no-op.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from recaug import io
from recaug.features.build import features_url, read_manifest
from recaug.features.errors import FeastStateError
from recaug.features.repo import FeastRepo, captured_output
from recaug.features.tables import TABLES, TIMESTAMP

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)

DEFINITIONS_STATE = "definitions.json"
MATERIALIZE_STATE = "materialize.json"
_AFTER = timedelta(microseconds=1)


class ApplyResult(BaseModel):
    applied: bool = Field(description="False when the registry already held these definitions")
    definitions_hash: str
    feature_views: list[str]
    feature_services: list[str]


class ViewMaterialization(BaseModel):
    feature_view: str
    skipped: bool = Field(description="the table did not change since the last materialization")
    full: bool = Field(False, description="materialized from the beginning (first run, new definitions or unknown lineage)")
    start: datetime | None = None
    end: datetime | None = None
    rows: int = Field(0, description="offline rows inside the materialized window")
    watermark: datetime | None = None


class MaterializeResult(BaseModel):
    views: list[ViewMaterialization]

    @property
    def rows(self) -> int:
        return sum(v.rows for v in self.views)


def apply_definitions(settings: "Settings", force: bool = False) -> ApplyResult:
    """`feast apply` of feature_repo/, only when its hash differs from the applied one."""
    from feast.repo_operations import apply_total_with_repo_instance

    repo = FeastRepo(settings)
    repo.render()
    digest = repo.definitions_hash()
    state = _read_state(repo.state_url(DEFINITIONS_STATE))
    if not force and state.get("definitions_hash") == digest and repo.registry_exists():
        log.info("features: definitions unchanged (%s), registry kept", digest[:12])
        return ApplyResult(applied=False, definitions_hash=digest, **state["objects"])

    missing = [name for name in TABLES if not io.exists(_table_url(settings, name))]
    if missing:
        raise FeastStateError(
            f"feature tables {missing} are missing under {_table_url(settings, '')}; run `recaug features build` first"
        )
    contents = repo.load_definitions()
    store = repo.open_store()
    log.info("features: applying %d feature views, %d feature services to %s",
             len(contents.feature_views), len(contents.feature_services), repo.yaml_path)
    with captured_output(log):
        apply_total_with_repo_instance(store, settings.features.project, store.registry, contents, skip_source_validation=False)
    objects = {
        "feature_views": sorted(v.name for v in contents.feature_views),
        "feature_services": sorted(s.name for s in contents.feature_services),
    }
    io.write_json(repo.state_url(DEFINITIONS_STATE), {"definitions_hash": digest, "objects": objects})
    return ApplyResult(applied=True, definitions_hash=digest, **objects)


def materialize(settings: "Settings") -> MaterializeResult:
    """Load new or changed feature rows into the online store, view by view.

    The window of a view starts just after its watermark, or earlier when the build
    reports changed rows older than the watermark (late data, new embeddings), and ends
    at the newest row of the table. State is saved after each view, so a retry after a
    crash continues where it stopped.
    """
    repo = FeastRepo(settings)
    repo.render()
    applied = _read_state(repo.state_url(DEFINITIONS_STATE)).get("definitions_hash")
    current = repo.definitions_hash()
    if applied is None or not repo.registry_exists():
        raise FeastStateError(f"no Feast definitions applied in {repo.state_dir}; run `recaug features apply` first")
    if applied != current:
        raise FeastStateError("the feature definitions changed since they were applied; run `recaug features apply` first")
    manifest = read_manifest(settings)
    if manifest is None:
        raise FeastStateError("no feature tables built yet; run `recaug features build` first")

    state_url = repo.state_url(MATERIALIZE_STATE)
    state = _read_state(state_url)
    store = None
    results = []
    for name in TABLES:
        table = manifest.tables[name]
        previous = state.get(name)
        if previous and previous["table_sha256"] == table.sha256 and previous["definitions_hash"] == current:
            results.append(ViewMaterialization(feature_view=name, skipped=True, watermark=previous["watermark"]))
            continue
        last_watermark = _parse(previous.get("watermark")) if previous else None
        full = (
            last_watermark is None
            or previous["definitions_hash"] != current
            or table.changed_since != previous["table_sha256"]
        )
        start = table.min_event_timestamp if full else last_watermark + _AFTER
        if not full and table.earliest_change is not None:
            start = min(start, table.earliest_change)
        end = table.max_event_timestamp
        rows = 0
        if start is not None and end is not None and start <= end:
            store = store or repo.open_store()
            log.info("features: materializing %s from %s to %s%s", name, start, end, " (full)" if full else "")
            with captured_output(log):
                store.materialize(start_date=start, end_date=end, feature_views=[name])
            rows = _rows_between(_table_url(settings, name), start, end)
        watermark = max((w for w in (end, last_watermark) if w is not None), default=None)
        state[name] = {
            "table_sha256": table.sha256, "definitions_hash": current,
            "watermark": watermark.isoformat() if watermark else None,
        }
        io.write_json(state_url, state)
        results.append(ViewMaterialization(
            feature_view=name, skipped=False, full=full, start=start, end=end, rows=rows, watermark=watermark,
        ))
    return MaterializeResult(views=results)


def _table_url(settings: "Settings", name: str) -> str:
    return features_url(settings, f"{name}.parquet" if name else "")


def _rows_between(url: str, start: datetime, end: datetime) -> int:
    timestamps = io.read_parquet(url, columns=[TIMESTAMP])[TIMESTAMP]
    return int(((timestamps >= start) & (timestamps <= end)).sum())


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _read_state(url: str) -> dict:
    return io.read_json(url) if io.exists(url) else {}
