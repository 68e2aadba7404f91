from __future__ import annotations

import numpy as np
import pytest

from recaug.embed.batching import token_budget_batches


def test_batches_cover_every_index_once_longest_first():
    lengths = [3, 9, 1, 9, 5, 2, 7]
    batches = list(token_budget_batches(lengths, max_tokens=27, max_rows=3))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
    assert batches[0].tolist() == [1, 3, 6]  # equal lengths keep their input order


def test_batch_rows_follow_the_token_budget():
    lengths = [100] * 4 + [10] * 50 + [2] * 30
    batches = list(token_budget_batches(lengths, max_tokens=200, max_rows=64))
    for idx in batches:
        padded = len(idx) * max(lengths[i] for i in idx)
        assert padded <= 200 or len(idx) == 1
    # long texts: small batches; short ones big (a batch's width is its first, longest text)
    assert [len(b) for b in batches] == [2, 2, 20, 20, 20, 20]


def test_row_cap_and_texts_longer_than_the_budget():
    batches = list(token_budget_batches([500, 3, 3, 3, 3, 3], max_tokens=64, max_rows=2))
    assert [b.tolist() for b in batches] == [[0], [1, 2], [3, 4], [5]]
    assert [b.tolist() for b in token_budget_batches([0, 0], max_tokens=8, max_rows=8)] == [[0, 1]]
    assert list(token_budget_batches([], max_tokens=8, max_rows=8)) == []


@pytest.mark.parametrize("max_tokens,max_rows", [(0, 4), (4, 0)])
def test_budget_and_rows_must_be_positive(max_tokens, max_rows):
    with pytest.raises(ValueError):
        list(token_budget_batches([1, 2], max_tokens=max_tokens, max_rows=max_rows))
