"""A full rebuild: derived data is set aside so every stage recomputes from curated data.

Nothing is deleted: the derived sections and content-hash caches move to
`state/rebuild-<run>/` (local lakes), from where they can be restored or removed by
hand. Doing it twice for the same run is a no-op, so a retried task is safe.
"""

from __future__ import annotations

import logging
import os

from pydantic import BaseModel

from recaug.lake import Lake

log = logging.getLogger(__name__)

DERIVED = ("augment", "embeddings", "features", "cache")


class RebuildResult(BaseModel):
    run_id: str
    moved: dict[str, str]
    already_done: bool = False


def set_aside_derived(lake: Lake, run_id: str) -> RebuildResult:
    """Move derived sections and caches to state/rebuild-<run>/ and recreate them empty."""
    target = lake.local("state", f"rebuild-{run_id}")
    marker = target / "DONE"
    if marker.exists():
        return RebuildResult(run_id=run_id, moved={}, already_done=True)
    target.mkdir(parents=True, exist_ok=True)
    moved: dict[str, str] = {}
    for section in DERIVED:
        source = lake.local(section)
        if source.exists() and any(source.iterdir()) and not (target / section).exists():
            os.replace(source, target / section)
            moved[section] = str(target / section)
            log.info("full rebuild: %s set aside in %s", section, target / section)
        source.mkdir(parents=True, exist_ok=True)
    marker.write_text("derived data of earlier runs, set aside for a full rebuild\n")
    return RebuildResult(run_id=run_id, moved=moved)
