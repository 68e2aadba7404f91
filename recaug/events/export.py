"""`export_events`: sealed log segments -> one landing batch of interactions, exactly once.

The nightly run calls it before it looks for landing batches, so feedback events are
validated by the same GX suites and merged into curated like any batch. Steps, each
durable before the next, so an interrupted export is finished by the next call:

1. seal the active segments of dead writers (a live gateway's segment waits until it
   is sealed by size, age or shutdown);
2. claim the sealed segments: move them into `exporting/<batch>/` (via a hidden
   folder renamed into place, so a claim is whole or absent);
3. write `landing/<batch>/interactions.parquet` atomically, unless the ledger already
   knows the batch (then it was ingested or quarantined: never write it twice);
4. move `exporting/<batch>/` to `exported/<batch>/`: those segments are done for good.

Only `events.export_event_types` become interactions (impressions are not); event_type
and the rating value are kept. Events with the same (user, item, time) collapse into
one row, the strongest kind winning (rating > purchase > click > impression), as
the landing rules forbid duplicate events.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from recaug.events import segments
from recaug.events.log import log_root, read_rows

if TYPE_CHECKING:
    import pandas as pd

    from recaug.settings import Settings

log = logging.getLogger(__name__)

BATCH_PREFIX = "events-"
STRENGTH = {"rating": 0, "purchase": 1, "click": 2, "impression": 3}


class ExportResult(BaseModel):
    batches: list[str] = Field(default_factory=list, description="landing batches written by this call")
    segments: int = 0
    events: int = Field(0, description="events read from the exported segments")
    interactions: int = Field(0, description="rows in the landing batches")
    already_processed: list[str] = Field(default_factory=list, description="batches the ledger knew: not written again")
    skipped: str | None = Field(None, description="why nothing was looked at (no local event log)")

    def summary(self) -> str:
        if self.skipped:
            return f"events export: skipped ({self.skipped})"
        return (f"events export: {self.segments} segments, {self.events} events -> {self.interactions} interactions "
                f"in {self.batches or 'no new batch'}")


def export_events(settings: "Settings", now: datetime | None = None) -> ExportResult:
    """Export every sealed segment (and finish any interrupted export); see the module doc."""
    from filelock import FileLock

    try:
        root = log_root(settings)
    except ValueError as exc:  # an object-store lake and no events.log_dir: the gateway logs nothing there
        return ExportResult(skipped=str(exc))
    result = ExportResult()
    if not root.is_dir():
        log.info("events export: no event log at %s", root)
        return result
    with FileLock(str(root / "export.lock")):
        sealed = segments.seal_orphans(root)
        if sealed:
            log.info("events export: sealed %d segments of writers that are gone", len(sealed))
        for batch_dir in _interrupted(root):
            log.info("events export: finishing the interrupted export %s", batch_dir.name)
            _finish(settings, root, batch_dir, result)
        claimed = _claim(root, now or datetime.now(timezone.utc))
        if claimed is not None:
            _finish(settings, root, claimed, result)
    log.info(result.summary())
    return result


def _interrupted(root: Path) -> list[Path]:
    """Claims of an earlier call that did not finish; a hidden (half-made) claim is completed first."""
    folder = root / segments.EXPORTING
    if not folder.is_dir():
        return []
    for hidden in sorted(p for p in folder.iterdir() if p.name.startswith(".") and p.is_dir()):
        os.replace(hidden, folder / hidden.name[1:])
        segments.fsync_directory(folder)
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _claim(root: Path, now: datetime) -> Path | None:
    found = segments.segments_in(root / segments.SEALED)
    if not found:
        return None
    name = f"{BATCH_PREFIX}{now.strftime('%Y%m%dT%H%M%SZ')}"
    folder = root / segments.EXPORTING
    while (folder / name).exists() or (root / segments.EXPORTED / name).exists():
        name += "-1"  # two exports within one second
    hidden = folder / f".{name}"
    hidden.mkdir(parents=True)
    for path in found:
        segments.move(path, hidden)
    os.replace(hidden, folder / name)
    segments.fsync_directory(folder)
    return folder / name


def _finish(settings: "Settings", root: Path, batch_dir: Path, result: ExportResult) -> None:
    from recaug.data.landing import write_batch
    from recaug.validate.state import Ledger

    parts = segments.segments_in(batch_dir)
    events = read_rows(parts)
    table = interactions_of(events, settings.events.export_event_types)
    result.segments += len(parts)
    result.events += len(events)
    name = batch_dir.name
    if name in Ledger.load(settings.lake.url("state", "batches.json")).batches:
        result.already_processed.append(name)
    elif len(table):
        write_batch(settings.lake.url("landing"), name, {"interactions": table})
        result.batches.append(name)
        result.interactions += len(table)
    segments.move(batch_dir, root / segments.EXPORTED)


def interactions_of(events: "pd.DataFrame", event_types: list[str]) -> "pd.DataFrame":
    """Landing interactions rows of logged events (see the module doc)."""
    import pandas as pd

    chosen = events[events["event_type"].isin(event_types)].copy()
    chosen["strength"] = chosen["event_type"].map(STRENGTH)
    chosen = chosen.sort_values(["strength", "received_at"], kind="stable")
    chosen = chosen.drop_duplicates(["user_id", "item_id", "timestamp"], keep="first").sort_values("timestamp", kind="stable")
    return pd.DataFrame({
        "user_id": chosen["user_id"].astype("string"),
        "item_id": chosen["item_id"].astype("string"),
        "timestamp": chosen["timestamp"],
        "event_type": chosen["event_type"].astype("string"),
        "rating": chosen["value"].where(chosen["event_type"] == "rating").astype("float64"),
        "source": pd.Series("observed", index=chosen.index, dtype="string"),
        "confidence": 1.0,
    }).reset_index(drop=True)
