"""Training sets through Feast's point-in-time join: no feature row sees its own or later events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaug import io
from recaug.features.build import build_features
from recaug.features.store import apply_definitions
from recaug.features.training import training_frame

pytestmark = pytest.mark.slow

T0 = pd.Timestamp("2026-02-02 09:00", tz="UTC")
H = pd.Timedelta(hours=1)


def test_training_rows_only_see_earlier_events(settings):
    # u1: one event on day 1, then two on day 3. A query on day 3 between them must still
    # count only the day-1 event: the snapshot holding the later event is not visible yet.
    rows = [("u1", "a", T0), ("u1", "b", T0 + 48 * H), ("u1", "c", T0 + 50 * H), ("u2", "a", T0 + 49 * H)]
    io.write_parquet(pd.DataFrame({
        "user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "timestamp": [r[2] for r in rows],
        "source": "observed",
    }), settings.lake.interactions)
    io.write_parquet(pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["A", "B", "C"]}), settings.lake.items)
    build_features(settings)
    apply_definitions(settings)

    queries = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u1", "u1", "u2"],
        "item_id": ["a", "b", "c", "c", "c", "a"],
        "event_timestamp": [T0, T0 + 48 * H, T0 + 50 * H, T0 + 50 * H + pd.Timedelta(microseconds=1), T0 + 99 * H, T0 + 49 * H],
    })
    frame = training_frame(settings, queries)
    assert len(frame) == len(queries)
    assert frame["user_id"].tolist() == queries["user_id"].tolist()
    n_events = frame["n_events"].tolist()
    assert pd.isna(n_events[0])           # an interaction never sees itself
    assert n_events[1] == 1               # day 3: only the day-1 event is known
    assert n_events[2] == 1               # still 1: the day-3 snapshot holds b and c
    assert n_events[3] == 3               # just after c, the day-3 snapshot is visible
    assert n_events[4] == 3
    assert pd.isna(n_events[5])           # u2's first event: nothing known yet
    assert frame["item_n_events"].iloc[:3].isna().all()  # each item's first event: no popularity yet
    assert frame["item_n_events"].iloc[5] == 1             # item a seen once (by u1 on day 1)
    assert frame["first_seen_unix"].notna().all()  # item content is known from first sight


def test_default_training_set_has_no_leakage(settings, market):
    build_features(settings)
    apply_definitions(settings)
    frame = training_frame(settings)
    events = pd.concat([market["curated/interactions.parquet"], market["augment/interactions.parquet"]])
    observed = market["curated/interactions.parquet"]
    assert len(frame) == len(observed)
    known = frame.dropna(subset=["n_events"])
    assert len(known) > len(frame) / 2
    times = known["event_timestamp"]
    # every visible snapshot ends strictly before the row's time ...
    assert (pd.to_datetime(known["last_event_unix"], unit="s", utc=True) < times).all()
    # ... and counts exactly the events up to its last event, none after it
    for row in known.sample(40, random_state=0).itertuples():
        mine = events[(events.user_id == row.user_id)]
        snapshot_end = pd.Timestamp(row.last_event_unix, unit="s", tz="UTC")
        assert row.n_events == (mine["timestamp"].dt.floor("s") <= snapshot_end).sum()
        assert row.n_events <= (mine["timestamp"] < row.event_timestamp).sum()
    item_known = frame.dropna(subset=["item_n_events"])
    assert (pd.to_datetime(item_known["item_last_event_unix"], unit="s", utc=True) < item_known["event_timestamp"]).all()


def test_user_attributes_and_profiles_are_point_in_time(settings, market):
    """The trainer's user features (service training_users): attributes from sign-up on, the
    profile only after the last event it summarises, nothing before sign-up."""
    observed = market["curated/interactions.parquet"]
    users = sorted(observed["user_id"].unique())
    first = observed.groupby("user_id")["timestamp"].min()
    last = observed.groupby("user_id")["timestamp"].max()
    io.write_parquet(pd.DataFrame({
        "user_id": users, "age": [20 + i for i in range(len(users))], "gender": "f", "occupation": "nurse",
        "region": ["north" if i % 2 else "south" for i in range(len(users))],
        "first_seen": [first[u] - H for u in users],
    }), settings.lake.users)
    build_features(settings)
    apply_definitions(settings)

    u = users[0]
    at = {"before sign-up": first[u] - 2 * H, "first event": first[u], "last event": last[u],
          "after last event": last[u] + pd.Timedelta(seconds=1)}
    frame = training_frame(settings, pd.DataFrame({"user_id": u, "event_timestamp": list(at.values())}),
                           "training_users").set_axis(list(at))
    assert pd.isna(frame.loc["before sign-up", "age"]) and pd.isna(frame.loc["before sign-up", "region"])
    assert frame.loc["first event", "age"] == 20 and frame.loc["first event", "region"] == "south"
    profile = frame["profile_embedding"].map(lambda v: isinstance(v, (list, np.ndarray)) and len(v) > 0)
    assert profile.tolist() == [False, False, False, True]  # the profile has read the whole history

    # the trainer's own query (each user's first event): attributes for all, no profile at all
    from recaug.train.dataset import build_sequences
    from recaug.train.user_features import first_answer_times, user_feature_frame

    data = build_sequences(observed)
    features = user_feature_frame(settings, data, first_answer_times(data))
    assert features["age"].notna().all() and features["profile_embedding"].isna().all()
    assert features["age"].tolist() == [20 + users.index(x) for x in data.users]
