"""Token-budget batching: texts of similar length share a batch (little padding), and a
batch is sized by its padded tokens rather than a fixed number of texts."""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np


def token_budget_batches(lengths: Sequence[int], max_tokens: int, max_rows: int) -> Iterator[np.ndarray]:
    """Yield index arrays covering every position once, longest texts first; a batch holds
    as many texts as fit `max_tokens` padded tokens (rows x its longest text), at most `max_rows`.

    Short texts share big batches (fewer, fuller matrix products), long ones get small
    batches (bounded memory); a text longer than the budget is a batch alone. Longest first
    makes the first batch the widest allocation (fail fast on memory); a stable sort keeps
    the order of equal lengths deterministic.
    """
    if max_tokens < 1 or max_rows < 1:
        raise ValueError("max_tokens and max_rows must be >= 1")
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    start = 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)  # sorted: the first row is the widest
        rows = min(max_rows, max(1, max_tokens // longest))
        yield order[start:start + rows]
        start += rows


def padded_batch(encodings, idx: np.ndarray) -> dict[str, np.ndarray]:
    """input_ids and attention_mask [len(idx), longest] of the tokenised texts at `idx`,
    right-padded with zeros (the encoder's pad id)."""
    width = max(len(encodings[i].ids) for i in idx)
    input_ids = np.zeros((len(idx), width), dtype=np.int64)
    attention_mask = np.zeros((len(idx), width), dtype=np.int64)
    for row, i in enumerate(idx):
        ids = encodings[i].ids
        input_ids[row, :len(ids)] = ids
        attention_mask[row, :len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}
