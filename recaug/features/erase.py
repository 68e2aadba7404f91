"""Deleting users from the online store (SQLite or Redis), for `recaug privacy forget`.

Feast has no per-entity delete, so this works on the store's own layout, through
Feast's key encoding: SQLite keeps one row per (serialized entity key, feature) in a
table per feature view; Redis keeps one hash per (serialized entity key, project).
SQLite is vacuumed afterwards, since deleted rows otherwise stay readable in free pages.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import TYPE_CHECKING

from recaug.features.config import RedisOnlineStoreConfig
from recaug.features.repo import FeastRepo

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)

KEY_SERIALIZATION_VERSION = 3  # entity_key_serialization_version in the rendered feature_store.yaml


def user_entity_keys(user_ids: list[str]) -> list[bytes]:
    """The serialized Feast entity keys of `user_ids` (join key `user_id`, string values)."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return [serialize_entity_key(EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=u)]),
                                 entity_key_serialization_version=KEY_SERIALIZATION_VERSION) for u in user_ids]


def delete_online_users(settings: "Settings", user_ids: list[str]) -> int:
    """Remove every online feature row of `user_ids`; returns rows (SQLite) or hashes (Redis) deleted."""
    repo = FeastRepo(settings)
    if isinstance(settings.features.online_store, RedisOnlineStoreConfig):
        return _delete_redis(repo, user_ids)
    path = repo.store_config()["online_store"]["path"]
    if not os.path.exists(path):
        return 0
    return _delete_sqlite(path, user_entity_keys(user_ids))


def _delete_sqlite(path: str, keys: list[bytes]) -> int:
    deleted = 0
    connection = sqlite3.connect(path, timeout=30)
    try:
        with connection:  # one transaction: all of a user's rows go, or none
            tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                columns = {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}
                if "entity_key" not in columns:
                    continue
                for key in keys:
                    deleted += connection.execute(f'DELETE FROM "{table}" WHERE entity_key = ?', (key,)).rowcount
        connection.execute("VACUUM")  # rewrite the file: no deleted row stays in a free page
    finally:
        connection.close()
    return deleted


def _delete_redis(repo: FeastRepo, user_ids: list[str]) -> int:
    from feast.infra.online_stores.helpers import _redis_key
    from feast.infra.online_stores.redis import RedisOnlineStore
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    store = repo.open_store()
    client = RedisOnlineStore()._get_client(store.config.online_store)
    keys = [_redis_key(store.config.project, EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=u)]),
                       KEY_SERIALIZATION_VERSION) for u in user_ids]
    return int(client.delete(*keys)) if keys else 0
