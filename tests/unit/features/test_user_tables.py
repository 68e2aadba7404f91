from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaug.data.schemas import INTERACTIONS, ITEMS, conform
from recaug.errors import ConfigError
from recaug.features import user_tables
from recaug.features.inputs import Embeddings

T0 = pd.Timestamp("2026-03-02 10:00", tz="UTC")  # a Monday
H = pd.Timedelta(hours=1)
US = pd.Timedelta(microseconds=1)


def events(rows):
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating", "source"])
    return conform(frame, INTERACTIONS).sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)


@pytest.fixture
def history():
    return events([
        ("a", "x", T0, 4.0, "observed"),
        ("a", "y", T0 + 2 * H, None, "observed"),
        ("a", "z", T0 + 3 * H, None, "augmented"),
        ("a", "x", T0 + 25 * H, 2.0, "observed"),  # next day
        ("b", "y", T0 + 5 * H, None, "observed"),
    ])


@pytest.fixture
def items():
    return conform(pd.DataFrame({
        "item_id": ["x", "y", "z"], "title": ["X", "Y", "Z"], "categories": ["books|music", "books", "toys"],
    }), ITEMS)


def test_behaviour_is_cumulative_per_daily_snapshot(history, items):
    table = user_tables.user_behaviour(history, items, every="1D", top_k=2).set_index(["user_id", "event_timestamp"])
    day1 = table.loc[("a", T0 + 3 * H + US)]
    assert (day1.n_events, day1.n_items, day1.n_augmented, day1.active_days) == (3, 3, 1, 1)
    assert day1.mean_rating == 4.0
    assert day1.mean_gap_hours == pytest.approx(1.5)
    day2 = table.loc[("a", T0 + 25 * H + US)]
    assert (day2.n_events, day2.n_items, day2.active_days) == (4, 3, 2)
    assert day2.mean_rating == 3.0
    assert day2.last_event_unix == int((T0 + 25 * H).timestamp())
    assert day2.first_event_unix == int(T0.timestamp())
    # hour of day: 10, 12, 13, 11 -> a quarter each; weekday: three Mondays, one Tuesday
    assert np.allclose(np.flatnonzero(day2.hour_shares), [10, 11, 12, 13])
    assert np.allclose(day2.weekday_shares[:2], [0.75, 0.25])
    # category mentions: books x2 + y1 = 3, music x2 = 2, toys 1 -> of 6
    assert day2.top_categories == ["books", "music"]
    assert np.allclose(day2.top_category_shares, [3 / 6, 2 / 6])
    assert np.isnan(table.loc[("b", T0 + 5 * H + US)].mean_rating)


def test_snapshot_is_visible_only_after_its_last_event(history, items):
    table = user_tables.user_behaviour(history, items, every="1D", top_k=3)
    last_event = pd.to_datetime(table["last_event_unix"], unit="s", utc=True)
    assert (table["event_timestamp"] > last_event).all()


def test_history_keeps_last_n_observed_items_oldest_first(history):
    table = user_tables.user_history(history, every="1D", length=2).set_index("user_id")
    rows = table.loc["a"].sort_values("event_timestamp")
    assert rows.iloc[0].history_item_ids == ["x", "y"]  # the augmented z is not history
    assert rows.iloc[1].history_item_ids == ["y", "x"]
    assert list(rows.iloc[1].history_timestamps) == [int((T0 + 2 * H).timestamp()), int((T0 + 25 * H).timestamp())]
    assert rows.iloc[0].event_timestamp == T0 + 2 * H + US
    assert table.loc["b"].history_item_ids == ["y"]


def test_profiles_become_visible_after_the_users_last_event(history):
    embeddings = Embeddings(ids=["a", "c"], encoders=["enc@1", "enc@1"], vectors=np.ones((2, 3), dtype=np.float32))
    table = user_tables.user_profile(history, embeddings, None, 30).set_index("user_id")
    assert table.loc["a"].event_timestamp == T0 + 25 * H + US
    assert table.loc["c"].event_timestamp == T0 + 25 * H + US  # no events: the newest event of the data
    assert list(table.loc["a"].profile_embedding) == [1.0, 1.0, 1.0]


def _night(history, vectors: dict[str, float], encoder: str = "enc@1", previous=None, versions: int = 30):
    embeddings = Embeddings(ids=list(vectors), encoders=[encoder] * len(vectors),
                            vectors=np.array([[v] * 3 for v in vectors.values()], dtype=np.float32))
    return user_tables.user_profile(history, embeddings, previous, versions)


def test_profiles_keep_one_row_per_night_they_changed(history):
    night1 = _night(history[history["timestamp"] < T0 + 24 * H], {"a": 1.0, "b": 5.0})
    night2 = _night(history, {"a": 2.0, "b": 5.0}, previous=night1)
    a = night2[night2["user_id"] == "a"]
    assert a["event_timestamp"].tolist() == [T0 + 3 * H + US, T0 + 25 * H + US]  # each after the events it read
    assert [v[0] for v in a["profile_embedding"]] == [1.0, 2.0]
    assert night2[night2["user_id"] == "b"]["event_timestamp"].tolist() == [T0 + 5 * H + US]  # unchanged: no new row
    assert _night(history, {"a": 2.0, "b": 5.0}, previous=night2).equals(night2)  # a rerun changes nothing


def test_profile_history_goes_with_the_profile_the_encoder_or_a_rollback(history):
    night1 = _night(history[history["timestamp"] < T0 + 24 * H], {"a": 1.0, "b": 5.0})
    night2 = _night(history, {"a": 2.0}, previous=night1)
    assert night2["user_id"].tolist() == ["a", "a"]  # b has no profile any more (switched off or forgotten)
    assert _night(history, {"a": 3.0}, encoder="enc@2", previous=night2)["profile_embedding"].map(lambda v: v[0]).tolist() == [3.0]
    rolled_back = _night(history[history["timestamp"] < T0 + 24 * H], {"a": 1.5}, previous=night2)
    assert rolled_back["event_timestamp"].tolist() == [T0 + 3 * H + US]  # the later night's row is gone
    same_night = _night(history, {"a": 9.0}, previous=night2)  # a rerun of the night with a new profile replaces it
    assert same_night["profile_embedding"].map(lambda v: v[0]).tolist() == [1.0, 9.0]
    assert _night(history, {"a": 9.0}, previous=night2, versions=1)["profile_embedding"].map(lambda v: v[0]).tolist() == [9.0]


def test_snapshot_bucket_must_have_fixed_length(history, items):
    with pytest.raises(ConfigError, match="snapshot_every"):
        user_tables.user_behaviour(history, items, every="1ME", top_k=2)


def test_attributes_are_visible_from_signup_or_first_event(history):
    from recaug.data.schemas import USERS

    users = conform(pd.DataFrame({
        "user_id": ["a", "b", "c"], "age": [34, None, 51], "gender": ["f", " ", None],
        "occupation": [None, "writer", "nurse"], "region": ["north", "south", None],
        "first_seen": [T0 - 24 * H, None, None],
    }), USERS)
    table = user_tables.user_attributes(users, history).set_index("user_id")
    assert table.loc["a", "event_timestamp"] == T0 - 24 * H   # signed up the day before the first event
    assert table.loc["b", "event_timestamp"] == T0 + 5 * H    # no sign-up date: the first event
    assert table.loc["c", "event_timestamp"] == pd.Timestamp(0, tz="UTC")  # nothing known: always visible
    assert table.loc["a", "age"] == 34.0 and np.isnan(table.loc["b", "age"])
    assert pd.isna(table.loc["b", "gender"])  # blank is missing, not a category
    assert table.loc["b", "occupation"] == "writer" and pd.isna(table.loc["c", "region"])
