"""The pick task's negatives as hard negatives: kept through the dataset, applied by the loss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from recaug.models.fusion_sasrec import FusionSASRec
from recaug.train.dataset import build_sequences
from recaug.train.loop import _position_losses, fit


def augmented_with_negatives(interactions: pd.DataFrame, n_users: int = 30) -> pd.DataFrame:
    last = interactions.sort_values("timestamp").groupby("user_id").tail(1).head(n_users)
    items = sorted(interactions["item_id"].astype(str).unique())
    return pd.DataFrame({
        "user_id": last["user_id"].to_numpy(), "item_id": [items[0]] * len(last),
        "timestamp": last["timestamp"].to_numpy(), "source": "augmented",
        "confidence": 0.8, "negative_item_id": [items[1]] * len(last),
    })


def test_negatives_reach_the_training_windows(market):
    interactions, items, embeddings = market
    augmented = augmented_with_negatives(interactions)
    data = build_sequences(interactions, items, embeddings, augmented)
    negative = data.vocab.index(sorted(interactions["item_id"].astype(str).unique())[1])
    assert len(data.hard_negatives) == augmented["user_id"].nunique()
    assert set(data.hard_negatives.values()) == {negative}
    windows = data.training_windows(20)
    owners_with = np.isin(windows.users, list(data.hard_negatives))
    assert (windows.negatives[owners_with] == negative).all() and (windows.negatives[~owners_with] == 0).all()
    assert data.summary()["hard_negative_users"] == len(data.hard_negatives)


def test_the_loss_grows_with_the_negatives_score(market, tiny_model_config):
    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    model = FusionSASRec(tiny_model_config, data.num_items, data.item_features()).eval()
    windows = data.training_windows(20)
    rows = slice(0, 8)
    batch = [torch.from_numpy(a[rows]) for a in (windows.inputs, windows.input_times, windows.targets,
                                                  windows.target_times)]
    negatives = torch.full_like(batch[2], 5)
    with torch.no_grad():
        plain = _position_losses(model, *batch)
        none = _position_losses(model, *batch, negatives=torch.zeros_like(negatives), negative_weight=1.0)
        hard = _position_losses(model, *batch, negatives=negatives, negative_weight=1.0)
    assert torch.equal(plain, none)
    active = batch[2][batch[2] > 0] != 5
    assert (hard[active] > plain[active]).all() and torch.equal(hard[~active], plain[~active])


def test_training_with_hard_negatives_ranks_them_lower(market, tiny_model_config, tiny_train_config):
    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings, augmented_with_negatives(interactions, n_users=200))
    negative = next(iter(data.hard_negatives.values()))
    ranks = {}
    for on in (False, True):
        model = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
        config = tiny_train_config.model_copy(update={"epochs": 3, "hard_negatives": on, "hard_negative_weight": 2.0,
                                                      "use_augmented": False, "cold_boost": "off"})
        fit(model, data, config)
        cases = data.valid
        with torch.no_grad():
            history = torch.from_numpy(np.stack([np.pad(h[-20:], (20 - len(h[-20:]), 0)) for h in cases.histories]))
            times = torch.from_numpy(np.stack([np.pad(t[-20:], (20 - len(t[-20:]), 0)) for t in cases.history_times]))
            scores = model.score(history, times, torch.from_numpy(cases.now))
        ranks[on] = float((scores[:, 1:] > scores[:, negative:negative + 1]).sum(dim=1).float().mean())
    assert ranks[True] > ranks[False]
