from __future__ import annotations

import numpy as np

from recaug.embed.dedupe import unique_texts


def test_distinct_texts_in_first_seen_order_and_inverse_restores_every_row():
    texts = ["b", "a", "b", "", "a", "c", "", "b"]
    distinct, inverse = unique_texts(texts)
    assert distinct == ["b", "a", "", "c"]
    assert [distinct[i] for i in inverse] == texts
    assert inverse.dtype == np.int64


def test_texts_differing_only_in_case_or_spaces_stay_distinct():
    distinct, inverse = unique_texts(["Heat", "heat", "Heat ", "Heat"])
    assert distinct == ["Heat", "heat", "Heat "] and inverse.tolist() == [0, 1, 2, 0]


def test_empty_input():
    distinct, inverse = unique_texts([])
    assert distinct == [] and inverse.shape == (0,)
