from __future__ import annotations

import pandas as pd

from recaug import io
from recaug.serving_gateway.ranking import popular_items


def test_popular_items_count_the_recent_window(settings):
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    events = pd.DataFrame({
        "user_id": ["a", "b", "c", "a", "b", "c"],
        "item_id": ["old", "old", "old", "x", "y", "y"],
        "timestamp": [t0, t0, t0, t0 + pd.Timedelta(days=10), t0 + pd.Timedelta(days=10), t0 + pd.Timedelta(days=11)],
    })
    io.write_parquet(events, settings.lake.interactions)
    assert popular_items(settings, window_days=5) == [("y", 2.0), ("x", 1.0)]
    assert popular_items(settings, window_days=30)[0] == ("old", 3.0)


def test_popular_items_of_an_empty_lake(settings):
    assert popular_items(settings, window_days=7) == []
