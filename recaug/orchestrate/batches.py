"""Which landing batches a run has to process.

Ingest removes a batch from landing/ once it is accepted into raw/ or moved into
quarantine/, so what is left in landing/ is exactly the work of the next run; a retried
or cleared run sees the same list without any orchestrator state.
"""

from __future__ import annotations

from recaug import io
from recaug.lake import Lake


def pending_batches(lake: Lake) -> list[str]:
    """Batch folders waiting in landing/, in batch (chronological) order."""
    fs, path = io.filesystem(lake.url("landing"))
    if not fs.exists(path):
        return []
    names = (entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=True) if entry["type"] == "directory")
    return sorted(name for name in names if not name.startswith("."))
