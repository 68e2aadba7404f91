"""The as-if-cold loss: each target also scored from the user's features alone, exactly as a
user without history is ranked, and the tower's own weight decay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from recaug.models.fusion_sasrec import FusionSASRec
from recaug.models.user_tower import UserFeatureSpec
from recaug.train.dataset import build_sequences
from recaug.train.loop import _cold_queries, _position_losses, parameter_groups
from recaug.train.losses import linear_cross_entropy


def _tower_model(market, tiny_model_config):
    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    rng = np.random.default_rng(0)
    users = pd.DataFrame({"age": rng.integers(18, 70, len(data.users)).astype(float),
                          "region": rng.choice(["north", "south", "east"], len(data.users))})
    spec = UserFeatureSpec.fit(users)
    config = tiny_model_config.model_copy(update={"use_user_features": True})
    model = FusionSASRec(config, data.num_items, data.item_features(), spec).eval()
    with torch.no_grad():  # a trained-looking tower: the profile projection starts at zero
        for embedding in model.user_tower.categorical:
            embedding.weight.normal_(std=0.5)
    return data, model, spec.encode(users)


def test_cold_queries_score_items_as_model_score_does_for_an_empty_history(market, tiny_model_config):
    data, model, features = _tower_model(market, tiny_model_config)
    now = torch.tensor([1_700_000_000, 1_700_100_000, 1_700_200_000, 1_700_300_000])
    chosen = features.take([0, 1, 2, 3])
    empty = torch.zeros((4, 7), dtype=torch.long)
    with torch.no_grad():
        items = model.item_matrix()
        trained = _cold_queries(model, items, chosen, now) @ items.T
        served = model.score(empty, empty, now, chosen)
    assert torch.allclose(trained, served, atol=1e-5)
    assert not torch.allclose(served[0], served[1])  # the features make the cold ranking personal


def test_cold_weight_adds_the_cold_cross_entropy_of_every_target(market, tiny_model_config):
    data, model, features = _tower_model(market, tiny_model_config)
    windows = data.training_windows(20)
    rows = slice(0, 6)
    inputs, input_times, targets, target_times = (torch.from_numpy(a[rows]) for a in (
        windows.inputs, windows.input_times, windows.targets, windows.target_times))
    users = features, torch.from_numpy(windows.users[rows])[:, None].expand_as(targets)
    mask = targets > 0
    with torch.no_grad():
        plain = _position_losses(model, inputs, input_times, targets, target_times, users)
        both = _position_losses(model, inputs, input_times, targets, target_times, users, cold_weight=0.5)
        items = model.item_matrix()
        cold = linear_cross_entropy(_cold_queries(model, items, features.take(users[1][mask]), target_times[mask]),
                                    items[1:], targets[mask] - 1)
    assert torch.allclose(both, plain + 0.5 * cold, atol=1e-5)
    assert torch.equal(_position_losses(model, inputs, input_times, targets, target_times, cold_weight=0.5),
                       _position_losses(model, inputs, input_times, targets, target_times))  # no tower input


def test_the_towers_weights_get_their_own_weight_decay(market, tiny_model_config):
    _, model, _ = _tower_model(market, tiny_model_config)
    groups = parameter_groups(model, 10.0, user_tower_weight_decay=5.0)
    tower = {id(p) for p in model.user_tower.parameters() if p.ndim > 0}
    decayed = [g for g in groups if g.get("weight_decay") == 5.0]
    assert len(decayed) == 1 and {id(p) for p in decayed[0]["params"]} == tower
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert all(id(p) not in tower for g in groups if g is not decayed[0] for p in g["params"])
