"""Feast with the Redis online store (production) against the machine's Redis.

The same marketplace goes into two lakes: one with the embedded SQLite online store,
one with `features.online_store.type=redis`. Serving must not be able to tell them
apart. Each test uses its own Feast project (Redis keys end with the project name)
and removes its keys afterwards.
"""

from __future__ import annotations

import pandas as pd
import pytest

from recaug import io
from recaug.errors import ConfigError
from recaug.features.build import build_features
from recaug.features.config import RedisOnlineStoreConfig
from recaug.features.online import get_items, get_user_context
from recaug.features.repo import FeastRepo
from recaug.features.store import apply_definitions, materialize

from feature_market import DAY, marketplace, write_tables

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def sqlite_settings(settings):
    """The conftest's lake: the embedded SQLite online store."""
    return settings


def project_keys(client, settings) -> list[bytes]:
    return list(client.scan_iter(match=b"*" + settings.features.project.encode()))


def build_apply_materialize(settings, tables):
    write_tables(settings, tables)
    build_features(settings)
    apply_definitions(settings)
    return {v.feature_view: v for v in materialize(settings).views}


def test_redis_serves_the_same_contexts_as_sqlite(sqlite_settings, redis_settings, redis_client):
    tables = marketplace()
    build_apply_materialize(sqlite_settings, tables)
    views = build_apply_materialize(redis_settings, tables)
    assert all(v.full and not v.skipped for v in views.values())

    assert redis_settings.features.online_store.type == "redis"
    assert "${RECAUG_REDIS_URL}" in FeastRepo(redis_settings).yaml_path.read_text()  # no address or secret on disk
    assert not redis_settings.lake.local("feast", "online_store.db").exists()
    users = sorted(tables["curated/interactions.parquet"]["user_id"].unique())
    assert len(project_keys(redis_client, redis_settings)) >= len(users) + 30  # users and items live in Redis

    asked = [*users, "nobody"]
    for with_profile in (False, True):
        expected = get_user_context(asked, sqlite_settings, with_profile=with_profile)
        got = get_user_context(asked, redis_settings, with_profile=with_profile)
        assert [c.model_dump() for c in got] == [c.model_dump() for c in expected]
        assert all(c.known and c.history_item_ids for c in got[:-1])
    nobody = get_user_context(["nobody"], redis_settings, with_profile=True)[0]
    assert nobody.model_dump() == {"user_id": "nobody", "known": False, "history_item_ids": [],
                                   "history_timestamps": [], "attributes": {}, "behaviour": {},
                                   "profile_embedding": None}
    item_ids = ["i000", "i029", "missing"]
    assert get_items(item_ids, redis_settings) == get_items(item_ids, sqlite_settings)


def test_incremental_materialization_into_redis(redis_settings, redis_client):
    tables = marketplace()
    first = build_apply_materialize(redis_settings, tables)
    before = {c.user_id: c for c in get_user_context(["u001", "u002", "u003"], redis_settings, with_profile=True)}

    interactions = tables["curated/interactions.parquet"]
    last = interactions["timestamp"].max()
    new = pd.DataFrame({
        "user_id": ["u001", "u002", "u002"], "item_id": ["i005", "i006", "i007"],
        "timestamp": [last + DAY, last + DAY, last + DAY + pd.Timedelta(minutes=5)],
        "event_type": "click", "rating": float("nan"), "source": "observed", "confidence": 1.0,
    })
    io.write_parquet(pd.concat([interactions, new], ignore_index=True), redis_settings.lake.interactions)
    build_features(redis_settings)
    second = {v.feature_view: v for v in materialize(redis_settings).views}

    behaviour = second["user_behaviour"]
    assert not behaviour.full and behaviour.rows == 2
    assert behaviour.start > first["user_behaviour"].watermark
    assert second["item_content"].skipped
    after = {c.user_id: c for c in get_user_context(["u001", "u002", "u003"], redis_settings, with_profile=True)}
    assert after["u001"].behaviour["n_events"] == before["u001"].behaviour["n_events"] + 1
    assert after["u001"].history_item_ids[-1] == "i005"
    assert after["u002"].history_item_ids[-2:] == ["i006", "i007"]
    assert after["u002"].last_event_unix == int(new["timestamp"].iloc[-1].timestamp())
    assert after["u003"] == before["u003"]
    assert all(v.skipped for v in materialize(redis_settings).views)


def test_key_ttl_and_teardown_removes_every_key_of_the_project(redis_settings, redis_client):
    redis_settings.features.online_store.key_ttl_seconds = 3600
    build_apply_materialize(redis_settings, marketplace(n_users=4, n_items=8, n_events=60))
    keys = project_keys(redis_client, redis_settings)
    assert keys and all(0 < redis_client.ttl(key) <= 3600 for key in keys)
    FeastRepo(redis_settings).open_store().teardown()
    assert project_keys(redis_client, redis_settings) == []


@pytest.mark.parametrize(("redis_env", "message"), [
    (None, r"reads \$RECAUG_REDIS_URL, which is not set; export RECAUG_REDIS_URL as host:port"),
    ("redis://:s3cret@127.0.0.1:6379/15", r"is a redis:// URL once expanded; expected host:port"),
    ("127.0.0.1", r"does not start with host:port"),
])
def test_a_misconfigured_redis_address_is_named_not_a_feast_traceback(settings, monkeypatch, redis_env, message):
    if redis_env is None:
        monkeypatch.delenv("RECAUG_REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("RECAUG_REDIS_URL", redis_env)
    settings.features.online_store = RedisOnlineStoreConfig()
    with pytest.raises(ConfigError, match=message) as raised:
        FeastRepo(settings).open_store()
    assert "s3cret" not in str(raised.value)
