"""Re-ranking and fallbacks that run after the model: MMR diversity (recaug.models.mmr, shared with the
offline evaluation), popular items."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recaug.models.mmr import mmr  # noqa: F401  (the gateway's re-ranker; service.py imports it from here)

if TYPE_CHECKING:
    from recaug.settings import Settings


def popular_items(settings: "Settings", window_days: int) -> list[tuple[str, float]]:
    """(item_id, interactions in the window) most popular first, for users the model cannot
    rank. Counts the lake's curated interactions over the last `window_days` before the
    newest event; empty when the lake has none."""
    import pandas as pd

    from recaug import io

    if not io.exists(settings.lake.interactions):
        return []
    events = io.read_parquet(settings.lake.interactions, columns=["item_id", "timestamp"])
    if events.empty:
        return []
    recent = events[events["timestamp"] > events["timestamp"].max() - pd.Timedelta(days=window_days)]
    counts = recent.groupby("item_id").size().sort_values(ascending=False, kind="stable")
    return [(str(item), float(count)) for item, count in counts.items()]
