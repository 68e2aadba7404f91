"""Running counts per user over snapshot rows, in bounded memory, and Arrow list columns.

The behaviour table holds, for every (user, active bucket) snapshot, counts of what the
user did up to then (per hour of day, weekday, item category). At 10M events that is ~5M
snapshots: a dense pandas unstack of every (snapshot, value) pair and one Python list per
cell took more memory than the whole event table. Here events carry integer codes, counts
come from `np.bincount` one chunk of snapshots at a time (a user's running total carried
across chunk borders), and list cells are built as Arrow arrays from flat values and
offsets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

CHUNK_CELLS = 1 << 24  # counts held at once: 16M int64 = 128 MiB


def first_rows(user_codes: np.ndarray) -> np.ndarray:
    """For rows sorted by user: the index of each row's user's first row."""
    starts = np.flatnonzero(np.r_[True, user_codes[1:] != user_codes[:-1]]) if len(user_codes) else np.zeros(0, int)
    return np.repeat(starts, np.diff(np.r_[starts, len(user_codes)]))


def concatenated_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat indices of the ranges [starts[i], starts[i] + lengths[i]) one after another, built
    without a Python loop over the ranges."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.arange(int(lengths.sum())) + np.repeat(np.asarray(starts, dtype=np.int64) - (np.cumsum(lengths) - lengths), lengths)


def running_counts(rows: np.ndarray, codes: np.ndarray, width: int, user_first: np.ndarray,
                   chunk_cells: int = CHUNK_CELLS) -> Iterator[tuple[int, int, np.ndarray]]:
    """(start, stop, counts [stop - start, width]) over all snapshot rows in order: counts[r, c] is how
    many of the user's events up to snapshot r have code c.

    `rows` is each event's snapshot row and `codes` its value code; `user_first`
    the first snapshot row of each row's user (`first_rows`)."""
    n_rows = len(user_first)
    if len(rows) > 1 and (rows[1:] < rows[:-1]).any():
        order = np.argsort(rows, kind="stable")
        rows, codes = rows[order], codes[order]
    step = max(1, chunk_cells // max(width, 1))
    carry, carry_user = np.zeros(width, dtype=np.int64), -1
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        lo, hi = np.searchsorted(rows, [start, stop])
        counts = np.bincount((rows[lo:hi] - start) * width + codes[lo:hi], minlength=(stop - start) * width)
        counts = counts.reshape(stop - start, width).cumsum(axis=0)
        segment = np.maximum(user_first[start:stop] - start, 0)
        restarted = segment > 0
        counts[restarted] -= counts[segment[restarted] - 1]
        continuing = user_first[start:stop] == carry_user  # the previous chunk's last user goes on
        counts[continuing] += carry
        carry, carry_user = counts[-1].copy(), user_first[stop - 1]
        yield start, stop, counts


def list_column(lengths: np.ndarray, values: "pa.Array") -> "pd.Series":
    """A pandas column of Arrow lists (row i = the next lengths[i] values) that pa.Table.from_pandas
    takes without converting cell by cell."""
    import pandas as pd
    import pyarrow as pa

    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    array = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
    return pd.Series(pd.arrays.ArrowExtensionArray(array))
