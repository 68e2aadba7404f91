from __future__ import annotations

import numpy as np
import pytest

from recaug.features.cumulative import first_rows, list_column, running_counts


def naive(rows, codes, width, users):
    """counts[r, c]: events of row r's user with code c in rows up to r."""
    per_row = np.zeros((len(users), width), dtype=np.int64)
    np.add.at(per_row, (rows, codes), 1)
    return np.stack([per_row[(users == users[r]) & (np.arange(len(users)) <= r)].sum(axis=0) for r in range(len(users))])


@pytest.mark.parametrize("chunk_cells", [1, 7, 1 << 24])
def test_running_counts_restart_per_user_and_carry_over_chunk_borders(chunk_cells):
    rng = np.random.default_rng(3)
    users = np.sort(rng.integers(0, 9, 40))  # 40 snapshot rows of 9 users
    rows = np.sort(rng.integers(0, 40, 300))
    codes = rng.integers(0, 5, 300)
    counts = np.concatenate([c for _, _, c in running_counts(rows, codes, 5, first_rows(users), chunk_cells)])
    assert np.array_equal(counts, naive(rows, codes, 5, users))


def test_events_out_of_row_order_count_the_same():
    users = np.array([0, 0, 1, 1])
    rows, codes = np.array([3, 0, 1, 2, 0]), np.array([1, 0, 1, 1, 1])
    counts = np.concatenate([c for _, _, c in running_counts(rows, codes, 2, first_rows(users), 2)])
    assert counts.tolist() == [[1, 1], [1, 2], [0, 1], [0, 2]]


def test_list_column_cuts_flat_values_by_lengths():
    import pyarrow as pa

    column = list_column(np.array([2, 0, 1]), pa.array(["a", "b", "c"]))
    assert column.tolist() == [["a", "b"], [], ["c"]]
