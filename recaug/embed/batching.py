"""Length-sorted batching: texts of similar length share a batch, so padding is small."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Yield index arrays covering every position once, longest texts first.

    Longest first makes the first batch the biggest allocation (fail fast on memory);
    a stable sort keeps the order of equal lengths deterministic.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]
