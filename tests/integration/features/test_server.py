"""`feast serve` on a loopback port answers exactly what the SDK answers."""

from __future__ import annotations

import pytest

from recaug.features.build import build_features
from recaug.features.online import get_user_context, online_reader
from recaug.features.server import FeatureServer, FeatureServerClient
from recaug.features.store import apply_definitions, materialize

pytestmark = pytest.mark.slow


def test_feature_server_equals_sdk(settings, market):
    build_features(settings)
    apply_definitions(settings)
    materialize(settings)
    users = ["u000", "u005", "u011", "nobody"]
    reader = online_reader(settings)
    with FeatureServer(settings) as server:
        assert server.host == "127.0.0.1"
        client = FeatureServerClient(server.url)
        for service, key, ids in (
            ("user_serving", "user_id", users),
            ("user_serving_full", "user_id", users),
            ("item_lookup", "item_id", ["i000", "i029", "unknown"]),
        ):
            sdk = reader.read(service, key, ids)
            assert client.online_features(key, ids, feature_service=service) == sdk, service
            assert client.online_features(key, ids, features=reader.feature_refs(service)) == sdk, service
        assert sdk["title"][2] is None and sdk["title"][0] == "Item 0"
        client.close()
        process = server.process
    assert process.poll() is not None  # stopped with the context
    assert get_user_context(["nobody"], settings)[0].known is False
