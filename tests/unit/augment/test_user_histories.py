"""user_histories: the per-user summary profiles and interaction augmentation start from."""

from __future__ import annotations

import pandas as pd

from recaug.augment.inputs import AugmentInputs
from recaug.augment.profiles import user_histories


def _inputs() -> AugmentInputs:
    ts = pd.Timestamp("2026-03-01", tz="UTC")
    events = pd.DataFrame({
        "user_id": ["b", "a", "b", "a", "c", "b"],
        "item_id": ["i1", "i2", "i2", "i3", "i9", "i1"],
        "timestamp": [ts, ts, ts + pd.Timedelta(days=1), ts + pd.Timedelta(days=2), ts, ts + pd.Timedelta(days=3)],
    }).sort_values(["user_id", "timestamp", "item_id"], kind="stable").reset_index(drop=True)
    items = pd.DataFrame({"item_id": ["i1", "i2", "i3"], "title": ["Dune", "Heat", "Alien"],
                          "categories": ["Sci-Fi|Drama", None, "Horror"]})
    return AugmentInputs(events, items)


def test_one_row_per_user_sparsest_then_most_recent_first():
    table = user_histories(_inputs(), length=2)
    assert table["user_id"].tolist() == ["c", "a", "b"]  # c and a have fewer events; a's last is later
    assert table["n_events"].tolist() == [1, 2, 3]
    assert table["last_event"].tolist() == [pd.Timestamp("2026-03-01", tz="UTC"), pd.Timestamp("2026-03-03", tz="UTC"),
                                            pd.Timestamp("2026-03-04", tz="UTC")]
    assert table["items"].tolist() == [["i9"], ["i2", "i3"], ["i1", "i2", "i1"]]


def test_history_keeps_the_last_events_as_briefs_in_time_order():
    table = user_histories(_inputs(), length=2).set_index("user_id")
    assert table.loc["b", "history"] == [
        {"title": "Heat", "date": "2026-03-02"},
        {"title": "Dune", "categories": "Sci-Fi, Drama", "date": "2026-03-04"},
    ]
    assert table.loc["c", "history"] == [{"title": "item i9", "date": "2026-03-01"}]  # unknown item: its id


def test_no_events_no_rows():
    empty = AugmentInputs(_inputs().interactions.iloc[:0], _inputs().items)
    assert user_histories(empty, length=5).empty
