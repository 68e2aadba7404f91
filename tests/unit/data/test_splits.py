"""Splits on hand-built interactions."""

from __future__ import annotations

import pandas as pd
import pytest

from recaug.data.splits import leave_one_out, temporal_cut
from recaug.errors import RecaugError


def frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(
        timestamp=lambda d: pd.to_datetime(d["timestamp"], unit="s", utc=True))


def items(df):
    return list(zip(df["user_id"], df["item_id"]))


def test_leave_one_out_last_is_test_previous_is_valid():
    df = frame([
        ("a", "a3", 30), ("b", "b1", 5), ("a", "a1", 10), ("a", "a4", 40), ("a", "a2", 20),
        ("b", "b2", 6), ("b", "b3", 7),
    ])
    split = leave_one_out(df)
    assert items(split.test) == [("a", "a4"), ("b", "b3")]
    assert items(split.valid) == [("a", "a3"), ("b", "b2")]
    assert items(split.train) == [("a", "a1"), ("a", "a2"), ("b", "b1")]


def test_leave_one_out_ties_keep_input_order():
    df = frame([("a", "x", 10), ("a", "y", 10), ("a", "z", 10), ("a", "w", 5)])
    split = leave_one_out(df)
    # w is earliest; x, y, z share a timestamp and keep their order: z is last, y before it.
    assert items(split.test) == [("a", "z")]
    assert items(split.valid) == [("a", "y")]
    assert items(split.train) == [("a", "w"), ("a", "x")]


def test_users_with_fewer_than_three_events_stay_in_train():
    df = frame([("a", "1", 1), ("a", "2", 2), ("b", "1", 1), ("c", "1", 1), ("c", "2", 2), ("c", "3", 3)])
    split = leave_one_out(df)
    assert set(split.test["user_id"]) == {"c"} and set(split.valid["user_id"]) == {"c"}
    assert items(split.train) == [("a", "1"), ("a", "2"), ("b", "1"), ("c", "1")]
    assert sum(split.sizes().values()) == len(df)


def test_leave_one_out_is_deterministic_under_row_shuffles_without_ties():
    df = frame([(u, f"{u}{t}", t) for u in "abcd" for t in range(1, 6)])
    shuffled = df.sample(frac=1.0, random_state=3)
    a, b = leave_one_out(df), leave_one_out(shuffled)
    for part in ("train", "valid", "test"):
        pd.testing.assert_frame_equal(getattr(a, part), getattr(b, part))


def test_temporal_cut_by_timestamp_and_validation_cut():
    df = frame([("a", "1", 100), ("a", "2", 200), ("b", "3", 300), ("b", "4", 400)])
    split = temporal_cut(df, test_from=pd.Timestamp(300, unit="s", tz="UTC"), valid_from="1970-01-01 00:03:20")
    assert items(split.train) == [("a", "1")]
    assert items(split.valid) == [("a", "2")]
    assert items(split.test) == [("b", "3"), ("b", "4")]


def test_temporal_cut_by_quantile():
    df = frame([("a", str(t), t) for t in range(10)])
    split = temporal_cut(df, test_quantile=0.8, valid_quantile=0.6)
    assert split.sizes() == {"train": 6, "valid": 2, "test": 2}
    assert split.train["timestamp"].max() < split.valid["timestamp"].min()
    assert split.valid["timestamp"].max() < split.test["timestamp"].min()


def test_temporal_cut_rejects_inconsistent_cuts():
    df = frame([("a", "1", 1), ("a", "2", 2)])
    with pytest.raises(RecaugError, match="exactly one of test_from or test_quantile"):
        temporal_cut(df)
    with pytest.raises(RecaugError, match="after the test cut"):
        temporal_cut(df, test_quantile=0.3, valid_quantile=0.9)
    with pytest.raises(RecaugError, match=r"quantile must be in \(0, 1\)"):
        temporal_cut(df, test_quantile=1.5)
