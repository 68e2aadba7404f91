from __future__ import annotations

import numpy as np
import pytest

from recaug.embed.batching import length_sorted_batches


def test_batches_cover_every_index_once_longest_first():
    lengths = [3, 9, 1, 9, 5, 2, 7]
    batches = list(length_sorted_batches(lengths, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert batches[0].tolist()[:2] == [1, 3]  # equal lengths keep their input order


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError):
        list(length_sorted_batches([1, 2], batch_size=0))
