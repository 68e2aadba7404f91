"""Training sets through Feast's point-in-time join: no feature row sees its own or later events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from feature_market import DIM, write_tables

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

    # the trainer's own answers at each user's first event: attributes for all, no profile at all
    from recaug.train.dataset import build_sequences
    from recaug.train.user_features import user_feature_timeline

    data = build_sequences(observed)
    timeline = user_feature_timeline(settings, data)
    firsts = timeline.frame.iloc[timeline.rows_at(np.arange(len(data.users)), [int(t[0]) for t in data.user_times])]
    assert firsts["age"].notna().all() and firsts["profile_embedding"].isna().all()
    assert firsts["age"].tolist() == [20 + users.index(x) for x in data.users]


def test_training_positions_read_the_profile_of_the_night_before_them(settings, market):
    """Two nightly builds: the second keeps the first night's profiles, and every training
    position and evaluation case reads exactly the newest profile visible at its own time (what
    a per-position point-in-time join answers), so the tower meets profiles in training."""
    from recaug.train.dataset import build_sequences
    from recaug.train.user_features import user_feature_timeline

    observed, augmented = market["curated/interactions.parquet"], market["augment/interactions.parquet"]
    cut = observed["timestamp"].quantile(0.5)
    write_tables(settings, {**market, "curated/interactions.parquet": observed[observed["timestamp"] < cut],
                            "augment/interactions.parquet": augmented[augmented["timestamp"] < cut]})
    build_features(settings)
    tonight = market["embeddings/users.parquet"].assign(
        embedding=list(np.random.default_rng(9).normal(size=(len(market["embeddings/users.parquet"]), DIM)).astype(np.float32)))
    write_tables(settings, {**market, "embeddings/users.parquet": tonight})
    build_features(settings)
    apply_definitions(settings)

    profiles = io.read_parquet(settings.lake.url("features", "user_profile.parquet"))
    assert profiles.groupby("user_id").size().max() == 2  # a row per night

    def expected(user: str, second: int):
        """Direct point-in-time lookup: the user's newest profile stamped at or before `second`."""
        mine = profiles[(profiles["user_id"] == user) & (profiles["event_timestamp"] <= pd.Timestamp(second, unit="s", tz="UTC"))]
        return None if mine.empty else list(mine.sort_values("event_timestamp")["profile_embedding"].iloc[-1])

    data = build_sequences(observed)
    timeline = user_feature_timeline(settings, data)
    read = timeline.frame["profile_embedding"].map(lambda v: None if v is None else list(v))
    windows = data.training_windows(max_length=20)
    rows = timeline.rows_at(windows.users[:, None], windows.target_times)
    real = np.argwhere(windows.targets > 0)
    for w, p in real:
        assert read[rows[w, p]] == expected(data.users[windows.users[w]], int(windows.target_times[w, p]))
    first_night = {tuple(v) for v in profiles.sort_values("event_timestamp").groupby("user_id").head(1)["profile_embedding"].map(list)}
    seen = [read[rows[w, p]] for w, p in real]
    assert sum(v is not None and tuple(v) in first_night for v in seen) > len(real) / 5  # training meets profiles
    cases = data.test
    case_rows = timeline.rows_at(cases.users, cases.now)
    for i in range(len(cases)):
        assert read[case_rows[i]] == expected(data.users[cases.users[i]], int(cases.now[i]))
