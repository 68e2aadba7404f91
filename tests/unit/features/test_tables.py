from __future__ import annotations

import numpy as np
import pyarrow as pa

from recaug.features.tables import row_digests


def table():
    return pa.table({
        "user_id": ["a", "b", None, "a"],
        "history_item_ids": pa.array([["x", "y"], ["y", "x"], None, []], pa.list_(pa.string())),
        "shares": pa.array([[1.0], [1.0], [], None], pa.list_(pa.float32())),
        "n_events": pa.array([1, 2, None, 1], pa.int64()),
        "has_embedding": pa.array([True, None, False, True]),
    })


def test_rows_hash_by_value_with_list_order_nulls_and_empties_apart():
    digests = row_digests(table())
    assert len(np.unique(digests)) == 4  # ["x", "y"] vs ["y", "x"], null vs [] and every other difference tell apart
    rebuilt = pa.table({name: pa.array(column.to_pylist(), column.type) for name, column in
                        zip(table().column_names, table().itercolumns())})
    assert np.array_equal(row_digests(rebuilt), digests)  # same values in new buffers: same digests


def test_a_row_hashes_the_same_wherever_it_sits():
    digests = row_digests(table())
    assert np.array_equal(row_digests(table().slice(1, 2)), digests[1:3])
    shuffled = pa.concat_tables([table().slice(2), table().slice(0, 2)]).combine_chunks()
    assert np.array_equal(np.sort(row_digests(shuffled)), np.sort(digests))


def test_one_changed_list_element_changes_only_its_row():
    changed = table().set_column(1, "history_item_ids",
                                 pa.array([["x", "y"], ["y", "z"], None, []], pa.list_(pa.string())))
    assert (row_digests(changed) != row_digests(table())).tolist() == [False, True, False, False]


def test_digests_are_two_independent_64_bit_hashes():
    halves = row_digests(table()).view(np.uint64).reshape(-1, 2)
    assert halves.shape == (4, 2) and (halves[:, 0] != halves[:, 1]).all()  # two keys, not one hash twice
