"""Real Feast (SQLite online store, Parquet offline store) in a temp lake."""

from __future__ import annotations

import pandas as pd
import pytest

from recaug import io
from recaug.features.build import build_features
from recaug.features.errors import FeastStateError
from recaug.features.online import get_items, get_user_context
from recaug.features.store import apply_definitions, materialize

from feature_market import DAY

pytestmark = pytest.mark.slow


def observed(tables) -> pd.DataFrame:
    return tables["curated/interactions.parquet"]


def all_events(tables) -> pd.DataFrame:
    return pd.concat([observed(tables), tables["augment/interactions.parquet"]])


def test_apply_materialize_lookup_and_rerun(settings, market):
    build_features(settings)
    assert apply_definitions(settings).applied
    again = apply_definitions(settings)
    assert not again.applied and "user_serving" in again.feature_services

    first = materialize(settings)
    assert all(v.full and not v.skipped for v in first.views)
    assert {v.feature_view: v.rows for v in first.views}["user_profile"] == 12

    events = all_events(market)
    users = sorted(events["user_id"].unique())[:3]
    contexts = get_user_context([*users, "nobody"], settings)
    full = get_user_context([*users, "nobody"], settings, with_profile=True)
    vectors = market["embeddings/users.parquet"].set_index("user_id")["embedding"]
    for user, context, everything in zip(users, contexts, full):
        mine = events[events.user_id == user]
        mine_observed = observed(market)[observed(market).user_id == user].sort_values("timestamp", kind="stable")
        assert context.known and context.behaviour == {} and context.profile_embedding is None
        assert context.history_item_ids == mine_observed["item_id"].tolist()[-settings.features.history_length:]
        assert context.last_event_unix == int(mine_observed["timestamp"].iloc[-1].timestamp())
        assert everything.history_item_ids == context.history_item_ids
        assert everything.behaviour["n_events"] == len(mine)  # augmented events included by default
        assert everything.behaviour["last_event_unix"] == int(mine["timestamp"].max().timestamp())
        assert len(everything.behaviour["hour_shares"]) == 24
        assert everything.profile_embedding == pytest.approx(vectors[user].tolist())
    empty = {"user_id": "nobody", "known": False, "history_item_ids": [], "history_timestamps": [],
             "attributes": {}, "behaviour": {}, "profile_embedding": None}
    assert contexts[-1].model_dump() == empty and full[-1].model_dump() == empty

    items = get_items(["i000", "i029", "missing"], settings)
    assert items[0].known and items[0].title == "Item 0" and len(items[0].embedding) == 16
    assert items[1].known and items[1].embedding is None  # not embedded yet
    assert not items[2].known

    rerun = materialize(settings)
    assert all(v.skipped for v in rerun.views) and rerun.rows == 0


def test_incremental_materialization_loads_only_new_rows(settings, market):
    build_features(settings)
    apply_definitions(settings)
    first = {v.feature_view: v for v in materialize(settings).views}

    interactions = observed(market)
    last = interactions["timestamp"].max()
    new = pd.DataFrame({
        "user_id": ["u001", "u002", "u002"], "item_id": ["i005", "i006", "i007"],
        "timestamp": [last + DAY, last + DAY, last + DAY + pd.Timedelta(minutes=5)],
        "event_type": "click", "rating": float("nan"), "source": "observed", "confidence": 1.0,
    })
    io.write_parquet(pd.concat([interactions, new], ignore_index=True), settings.lake.interactions)
    before = {c.user_id: c for c in get_user_context(["u001", "u002", "u003"], settings, with_profile=True)}
    build_features(settings)
    second = {v.feature_view: v for v in materialize(settings).views}

    behaviour = second["user_behaviour"]
    assert not behaviour.full and behaviour.rows == 2  # one new snapshot for each of the two users
    assert behaviour.start > first["user_behaviour"].watermark
    assert second["item_content"].skipped  # new events of known items change no item content
    after = {c.user_id: c for c in get_user_context(["u001", "u002", "u003"], settings, with_profile=True)}
    assert after["u001"].behaviour["n_events"] == before["u001"].behaviour["n_events"] + 1
    assert after["u002"].history_item_ids[-2:] == ["i006", "i007"]
    assert after["u003"] == before["u003"]

    assert all(v.skipped for v in materialize(settings).views)


def test_lookup_carries_declared_attributes(settings, market):
    """The gateway's one read brings the attributes a user declared, and only those."""
    users = pd.DataFrame({
        "user_id": ["u001", "u002", "newcomer"], "age": pd.array([31, None, 19], dtype="Int64"),
        "gender": ["f", None, "m"], "occupation": ["nurse", "  ", None], "region": ["north", "south", "east"],
    })
    io.write_parquet(users, settings.lake.users)
    build_features(settings)
    apply_definitions(settings)
    materialize(settings)
    found = {c.user_id: c for c in get_user_context(["u001", "u002", "newcomer", "u003", "nobody"], settings)}
    assert found["u001"].attributes == {"age": 31.0, "gender": "f", "occupation": "nurse", "region": "north"}
    assert found["u002"].attributes == {"region": "south"}
    assert found["newcomer"].attributes == {"age": 19.0, "gender": "m", "region": "east"}
    assert not found["newcomer"].known  # declared attributes, no history: a cold user the gateway can place
    assert found["u003"].attributes == {} and found["u003"].known
    assert found["nobody"].attributes == {} and not found["nobody"].known
    assert get_user_context(["u001"], settings, with_profile=True)[0].attributes == found["u001"].attributes


def test_late_rows_before_the_watermark_are_rematerialized(settings, market):
    build_features(settings)
    apply_definitions(settings)
    materialize(settings)
    interactions = observed(market)
    user = "u004"
    before = get_user_context([user], settings, with_profile=True)[0]
    mine = interactions[interactions.user_id == user]
    late = mine.iloc[[0]].assign(item_id="i011", timestamp=mine["timestamp"].iloc[0] + pd.Timedelta(seconds=1))
    io.write_parquet(pd.concat([interactions, late], ignore_index=True), settings.lake.interactions)
    build_features(settings)
    result = {v.feature_view: v for v in materialize(settings).views}
    assert not result["user_behaviour"].full
    assert result["user_behaviour"].start < result["user_behaviour"].watermark
    after = get_user_context([user], settings, with_profile=True)[0]
    assert after.behaviour["n_events"] == before.behaviour["n_events"] + 1
    assert "i011" in after.history_item_ids


def test_materialize_never_applies_and_refuses_stale_definitions(settings, market):
    build_features(settings)
    with pytest.raises(FeastStateError, match="recaug features apply"):
        materialize(settings)
    apply_definitions(settings)
    settings.features.ttl_days = 90  # the definitions read it: they are now different from the registry
    with pytest.raises(FeastStateError, match="changed since they were applied"):
        materialize(settings)
    assert apply_definitions(settings).applied
    result = materialize(settings)
    assert all(v.full for v in result.views)
