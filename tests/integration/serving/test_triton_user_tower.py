"""A model with a user tower deployed on the real tritonserver: the config declares the tower's
inputs, the smoke test replays them, and users with the same history but different attributes
get different answers, the ones torch gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaug.deploy.deploy import deploy
from recaug.export.onnx import load_export
from recaug.models.user_spec import UserFeatureSpec

from serving_helpers import make_exported_tower_artifact

pytestmark = pytest.mark.slow
ITEMS = [f"sku-{i}" for i in range(1, 41)]
USERS = pd.DataFrame({
    "age": [19.0, 34.0, 45.0, 63.0, None], "gender": ["f", "m", "f", "m", "f"],
    "occupation": ["student", "doctor", "artist", "retired", None], "region": ["north", "south", "east", "west", "north"],
    "profile_embedding": [[0.1, 0.2, 0.3, 0.4], None, [0.5, -0.5, 0.5, -0.5], None, None],
})


@pytest.fixture(scope="module")
def tower_settings(serving_settings):
    settings = serving_settings.model_copy(deep=True)
    settings.deploy.model_name = "recaug_tower"
    return settings


def test_tower_model_serves_user_inputs_like_torch(triton, tower_settings, serving_root):
    import torch

    from recaug.deploy.client import infer_http, triton_client
    from recaug.export.model import input_names, top_k_module
    from recaug.models.artifact import load_artifact

    artifact = make_exported_tower_artifact(tower_settings, serving_root / "models" / "tower", ITEMS, USERS, seed=3)
    record = deploy(tower_settings, artifact)
    assert (record.outcome, record.smoke.passed) == ("deployed", True)  # the reference's user inputs replayed
    config = (triton.repository / "recaug_tower" / "config.pbtxt").read_text()
    for name in ("user_categorical", "user_numeric", "user_profile"):
        assert f'name: "{name}"' in config

    spec = UserFeatureSpec.from_json(load_export(artifact)["user_features"])
    history = np.array([[0, 0, 0, 5], [0, 0, 0, 5], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=np.int64)  # short, empty
    request = {"history": history, "timestamps": np.where(history > 0, 1_700_000_000, 0),
               "now": np.full(4, 1_700_000_600, dtype=np.int64),
               **spec.model_inputs([
                   {"gender": "f", "occupation": "student", "region": "north", "age": 19},
                   {"gender": "m", "occupation": "retired", "region": "west", "age": 63},
                   {"gender": "f", "occupation": "artist", "region": "east", "age": 45,
                    "profile_embedding": [0.5, -0.5, 0.5, -0.5]},
                   {"gender": "m", "occupation": "doctor", "region": "south", "age": None},
               ])}
    with triton_client(triton.read_state().http_url) as client:
        served = infer_http(client, "recaug_tower", request, record.version)

    model, _, params = load_artifact(artifact)
    module = top_k_module(model, 8, True, params["model"]["max_length"])
    with torch.inference_mode():
        ids, scores, _ = module(*(torch.from_numpy(np.asarray(request[n])) for n in input_names(model)))
    np.testing.assert_array_equal(served["top_ids"], ids.numpy())
    np.testing.assert_allclose(served["top_scores"], scores.numpy(), atol=1e-4)
    assert not np.array_equal(served["top_ids"][0], served["top_ids"][1])  # same short history
    assert not np.array_equal(served["top_ids"][2], served["top_ids"][3])  # both without history
