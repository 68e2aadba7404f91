"""The user tower: codes learnt from training users, a history-length gate, an inert profile
projection until trained, and scores that follow the user's attributes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recaug.models.artifact import build_model, load_artifact, model_params, save_artifact
from recaug.models.config import ModelConfig
from recaug.models.user_tower import UserFeatureSpec, UserTower

N = 30


def users() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [23.0, 41.0, np.nan, 67.0], "gender": ["f", "m", None, "f"], "occupation": [None, None, None, None],
        "region": ["north", "south", "north", None],
        "profile_embedding": [np.ones(4, dtype=np.float32), None, None, np.full(4, 0.5, dtype=np.float32)],
    })


def test_spec_codes_values_seen_in_training_and_zeroes_the_rest():
    spec = UserFeatureSpec.fit(users())
    assert spec.categorical == {"gender": ["f", "m"], "region": ["north", "south"]}  # occupation: never given
    assert list(spec.numeric) == ["age"] and spec.profile_dim == 4
    encoded = spec.encode(pd.DataFrame({"age": [None, 30], "gender": ["x", "m"], "region": ["south", None],
                                        "profile_embedding": [None, [1.0, 2.0]]}))
    assert encoded.categorical.tolist() == [[0, 2], [2, 0]]  # unseen "x" and missing region -> 0
    assert np.isnan(encoded.numeric[0, 0].item()) and encoded.numeric[1, 0].item() == 30
    assert encoded.profile.abs().sum() == 0  # a profile of the wrong length is no profile
    assert UserFeatureSpec.from_json(spec.to_json()) == spec
    assert UserFeatureSpec.fit(None).empty and UserFeatureSpec.from_json(None).empty


def test_gate_closes_as_the_history_grows_and_profile_starts_inert():
    torch.manual_seed(0)
    spec = UserFeatureSpec.fit(users())
    tower = UserTower(8, spec)
    inputs = spec.encode(users())
    short, long = tower(inputs, torch.zeros(4)), tower(inputs, torch.full((4,), 50))
    assert (short.norm(dim=1) > 3 * long.norm(dim=1)).all()
    without_profile = spec.encode(users().assign(profile_embedding=None))
    assert torch.equal(tower(without_profile, torch.zeros(4)), short)  # zero-initialised projection
    with torch.no_grad():
        tower.profile.weight.fill_(0.1)
    assert not torch.equal(tower(without_profile, torch.zeros(4)), tower(inputs, torch.zeros(4)))
    assert torch.isfinite(short).all()  # missing age: no NaN leaks through


def test_fusion_sasrec_scores_follow_attributes_for_users_without_history(tmp_path):
    torch.manual_seed(0)
    spec = UserFeatureSpec.fit(users())
    config = ModelConfig(hidden_size=16, num_heads=2, max_length=10, use_user_features=True)
    model = build_model("fusion_sasrec", config, N, None, spec).eval()
    empty = torch.zeros(4, 1, dtype=torch.long)
    now = torch.full((4,), 1_000)
    with torch.no_grad():
        personal = model.score(empty, empty, now, spec.encode(users()))
        anonymous = model.score(empty, empty, now)
    assert not torch.allclose(personal[0], personal[1])  # different attributes, different ranking scores
    assert torch.allclose(anonymous[0], anonymous[1])  # without the tower every empty history is alike
    # the artifact carries the codes, so a reloaded model encodes users the same way
    save_artifact(str(tmp_path), model, [None, *(f"i{i}" for i in range(N))], model_params(model))
    loaded, _, params = load_artifact(str(tmp_path))
    assert params["user_features"] == spec.to_json() and loaded.user_spec == spec
    with torch.no_grad():
        assert torch.allclose(loaded.score(empty, empty, now, loaded.user_spec.encode(users())), personal)


def test_no_tower_when_switched_off_or_without_features():
    spec = UserFeatureSpec.fit(users())
    assert build_model("fusion_sasrec", ModelConfig(), N, None, spec).user_spec is None  # off by default
    on = ModelConfig(use_user_features=True)
    assert build_model("fusion_sasrec", on, N, None, spec).user_spec == spec
    assert build_model("fusion_sasrec", on, N, None, UserFeatureSpec.fit(None)).user_spec is None
    assert build_model("gru4rec", on, N, None, spec).user_spec is None
