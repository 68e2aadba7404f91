from __future__ import annotations

import numpy as np
import pytest

from recaug.augment.sequence import crop, mask, random_view, reorder

SEQ = np.arange(1, 11)


def test_crop_is_a_contiguous_window_with_aligned_times():
    items, times = crop(SEQ, np.random.default_rng(1), ratio=0.5, times=SEQ * 100)
    assert len(items) == 5 and np.all(np.diff(items) == 1) and np.array_equal(times, items * 100)
    assert len(crop(np.array([7]), np.random.default_rng(0), 0.1)) == 1


def test_mask_replaces_the_requested_share_and_leaves_the_input_alone():
    original = SEQ.copy()
    out = mask(SEQ, np.random.default_rng(2), ratio=0.3, mask_id=0)
    assert (out == 0).sum() == 3 and np.array_equal(SEQ, original)
    assert np.array_equal(out[out != 0], SEQ[out != 0])


def test_reorder_permutes_one_window():
    out = reorder(SEQ, np.random.default_rng(3), ratio=0.5)
    changed = np.flatnonzero(out != SEQ)
    assert sorted(out) == list(SEQ)
    assert len(changed) == 0 or changed.max() - changed.min() < 5


def test_same_seed_same_view():
    a = [random_view(SEQ, np.random.default_rng(42)) for _ in range(3)]
    b = [random_view(SEQ, np.random.default_rng(42)) for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_bad_ratios_are_rejected():
    with pytest.raises(ValueError):
        crop(SEQ, np.random.default_rng(0), ratio=0)
    with pytest.raises(ValueError):
        mask(SEQ, np.random.default_rng(0), ratio=1.5)
