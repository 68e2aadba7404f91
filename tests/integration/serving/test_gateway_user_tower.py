"""The gateway serving a version with a user tower (real Triton, real Feast SQLite): a user
without history who declared attributes gets the model's answer for those attributes (the
one torch gives), not popular items; a user who declared nothing still gets popular items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaug import io

from gateway_helpers import gateway_test_settings, write_marketplace
from serving_helpers import make_exported_tower_artifact

pytestmark = pytest.mark.slow
ITEMS = [f"sku-{i:03d}" for i in range(30)]
NEW_A = {"age": 19, "gender": "f", "occupation": "student", "region": "north"}
NEW_B = {"age": 64, "gender": "m", "occupation": "retired", "region": "west"}


def _users() -> pd.DataFrame:
    """Declared attributes of the marketplace's users and of three newcomers without events."""
    rng = np.random.default_rng(3)
    known = pd.DataFrame({
        "user_id": [f"user-{i}" for i in range(20)], "age": rng.integers(18, 70, 20),
        "gender": rng.choice(["f", "m"], 20), "occupation": rng.choice(["student", "doctor", "retired", "artist"], 20),
        "region": rng.choice(["north", "south", "east", "west"], 20),
    })
    newcomers = pd.DataFrame([{"user_id": "new-a", **NEW_A}, {"user_id": "new-b", **NEW_B},
                              {"user_id": "new-c", "age": None, "gender": None, "occupation": None, "region": None}])
    users = pd.concat([known, newcomers], ignore_index=True)
    users["age"] = users["age"].astype("Int64")
    return users


@pytest.fixture(scope="module")
def tower_world(serving_root, triton):
    from recaug.deploy.deploy import deploy

    root = serving_root / "gateway-tower"
    settings = gateway_test_settings(root, "recaug_gateway_tower", triton.home, triton_timeout_s=2.0,
                                     features_timeout_s=5.0, top_k=12)
    users = _users()
    io.write_parquet(users, settings.lake.users)
    write_marketplace(settings, ITEMS, n_users=20, n_events=500)
    training_users = users.iloc[:20].assign(age=lambda f: f["age"].astype(float))
    artifact = make_exported_tower_artifact(settings, root / "lake" / "models" / "run-t", ITEMS, training_users, seed=7)
    assert deploy(settings, artifact).outcome == "deployed"
    return settings, artifact


@pytest.fixture(scope="module")
def client(tower_world):
    from fastapi.testclient import TestClient

    from recaug.serving_gateway.app import create_app

    with TestClient(create_app(tower_world[0])) as test_client:
        yield test_client


def _torch_top(artifact, attributes: dict, k: int) -> list[str]:
    """What the trained model ranks first for a user without history who declared `attributes`."""
    import torch

    from recaug.export.model import input_names, top_k_module
    from recaug.models.artifact import load_artifact

    model, vocab, params = load_artifact(artifact)
    request = {"history": np.zeros((1, 1), dtype=np.int64), "timestamps": np.zeros((1, 1), dtype=np.int64),
               "now": np.asarray([1_800_000_000], dtype=np.int64), **model.user_spec.model_inputs([attributes])}
    module = top_k_module(model, 12, True, params["model"]["max_length"])
    with torch.inference_mode():
        ids, _, _ = module(*(torch.from_numpy(request[name]) for name in input_names(model)))
    return [vocab[i] for i in ids[0].tolist()][:k]


def test_cold_users_with_attributes_get_the_models_answer_for_them(client, tower_world):
    _, artifact = tower_world
    answers = {}
    for user in ("new-a", "new-b"):
        response = client.get("/recommend", params={"user_id": user, "k": 5})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["source"], body["model_version"]) == ("model", "1")
        answers[user] = [item["item_id"] for item in body["items"]]
        reasons = [reason for item in body["items"] for reason in item["reasons"]]
        assert any("what you told us" in reason["text"] for reason in reasons)
    assert answers["new-a"] == _torch_top(artifact, NEW_A, 5)
    assert answers["new-b"] == _torch_top(artifact, NEW_B, 5)
    assert answers["new-a"] != answers["new-b"]  # same (empty) history, different attributes


def test_cold_user_who_declared_nothing_gets_popular_items_and_known_users_the_model(client):
    body = client.get("/recommend", params={"user_id": "new-c", "k": 5}).json()
    assert body["source"] != "model" and body["items"]
    known = client.get("/recommend", params={"user_id": "user-3", "k": 5}).json()
    assert known["source"] == "model" and len(known["items"]) == 5
