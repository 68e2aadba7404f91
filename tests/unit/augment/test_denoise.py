from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recaug.augment.denoise import filter_by_confidence, prune_by_loss


def test_prune_drops_the_highest_loss_augmented_samples_only():
    losses = np.array([9.0, 0.1, 5.0, 0.2, 7.0, 0.3, 8.0])
    augmented = np.array([False, True, True, True, True, True, False])
    keep = prune_by_loss(losses, augmented, rate=0.4)  # floor(0.4 * 5) = 2 augmented dropped
    assert keep.tolist() == [True, True, False, True, False, True, True]


def test_prune_torch_matches_numpy_and_keeps_the_tensor_kind():
    rng = np.random.default_rng(0)
    losses = rng.random(64)
    augmented = rng.random(64) < 0.5
    expected = prune_by_loss(losses, augmented, 0.25)
    keep = prune_by_loss(torch.tensor(losses, requires_grad=True), torch.tensor(augmented), 0.25)
    assert isinstance(keep, torch.Tensor) and keep.dtype == torch.bool
    assert keep.tolist() == expected.tolist()
    assert (~expected).sum() == int(0.25 * augmented.sum())


def test_prune_rate_zero_or_no_augmented_keeps_everything():
    assert prune_by_loss(np.array([1.0, 2.0]), np.array([True, True]), 0.0).all()
    assert prune_by_loss(np.array([1.0, 2.0]), np.array([False, False]), 0.9).all()


def test_prune_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rate"):
        prune_by_loss(np.ones(2), np.ones(2, bool), 1.0)
    with pytest.raises(ValueError, match="length"):
        prune_by_loss(np.ones(2), np.ones(3, bool), 0.5)


def test_filter_by_confidence_drops_weak_and_unknown_pairs():
    df = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "confidence": [0.9, 0.3, 0.29, np.nan]})
    assert filter_by_confidence(df, 0.3)["item_id"].tolist() == ["a", "b"]
