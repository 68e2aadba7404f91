"""`forget` with Feast's Redis online store (production) against the machine's Redis:
the user's hash is gone, every other user's stays."""

from __future__ import annotations

import pytest

from recaug.features.build import build_features
from recaug.features.erase import user_entity_keys
from recaug.features.online import get_user_context
from recaug.features.store import apply_definitions, materialize
from recaug.privacy.forget import forget_users

from feature_market import marketplace, write_tables

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_forget_deletes_the_users_redis_hash_only(redis_settings, redis_client):
    tables = marketplace()
    write_tables(redis_settings, tables)
    build_features(redis_settings)
    apply_definitions(redis_settings)
    materialize(redis_settings)
    users = sorted(tables["curated/interactions.parquet"]["user_id"].unique())
    gone, kept = users[0], users[1:]
    project = redis_settings.features.project.encode()
    keys = lambda: list(redis_client.scan_iter(match=b"*" + project))  # noqa: E731
    before = keys()
    user_key = user_entity_keys([gone])[0] + project  # Feast's Redis key: serialized entity key + project
    assert user_key in before

    result = forget_users(redis_settings, [gone])

    assert result.removed["feast online store"] == 1 and result.residues == []
    after = keys()
    assert user_key not in after and set(after) == set(before) - {user_key}
    contexts = get_user_context([gone, *kept], redis_settings)
    assert not contexts[0].known and all(c.known for c in contexts[1:])
