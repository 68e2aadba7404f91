from __future__ import annotations

from pathlib import Path

import io as stdio

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recaug.data.schemas import INTERACTIONS, TS
from recaug.validate.config import ValidateConfig
from recaug.validate.frames import FileProblem, check_frame, coerce, epoch_unit_hint, read_table


def test_timestamps_accept_epoch_iso_and_datetimes_and_flag_the_rest():
    raw = pd.Series(["1767225600", "2026-01-01T00:00:00Z", "soon", None, "99999999999999"], dtype=object)
    coerced = coerce(raw, TS)
    assert coerced.values[0] == coerced.values[1] == pd.Timestamp("2026-01-01", tz="UTC")
    assert coerced.wrong_type.tolist() == [False, False, True, False, False]
    assert coerced.out_of_range.tolist() == [False, False, False, False, True]  # a number, just not seconds of our era


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00Z", "9999-12-31", "1500-06-01 12:00:00", str(2**62), "-99999999999", 1.7e12, -(2**63)],
)
def test_times_beyond_what_a_timestamp_holds_are_out_of_range_not_a_crash(value):
    coerced = coerce(pd.Series([value, "2026-01-01"], dtype=object), TS)
    assert coerced.out_of_range.tolist() == [True, False] and coerced.wrong_type.tolist() == [False, False]
    assert pd.isna(coerced.values[0]) and str(coerced.values.dtype) == TS


def test_parquet_datetimes_in_coarse_units_out_of_range():
    year_one = pd.Series(pd.array(["0001-01-01", "9999-12-31", "2026-01-01"], dtype="datetime64[s]"))
    coerced = coerce(year_one, TS)
    assert coerced.out_of_range.tolist() == [True, True, False]
    assert coerced.values[2] == pd.Timestamp("2026-01-01", tz="UTC")


def test_booleans_and_infinities_are_not_numbers_nor_times():
    assert coerce(pd.Series([np.inf, -np.inf, 4.0, np.nan]), "float64").wrong_type.tolist() == [True, True, False, False]
    assert coerce(pd.Series([True, 2.0], dtype=object), "float64").wrong_type.tolist() == [True, False]
    times = coerce(pd.Series([True, False]), TS)
    assert times.wrong_type.tolist() == [True, True]
    assert coerce(pd.Series([np.inf, 1767225600.0]), TS).wrong_type.tolist() == [True, False]


def test_times_of_day_and_durations_are_not_timestamps():
    import datetime as dt

    values = pd.Series([dt.time(12, 0), dt.timedelta(days=1), b"2026-01-01", dt.date(2026, 1, 1)], dtype=object)
    assert coerce(values, TS).wrong_type.tolist() == [True, True, True, False]
    assert coerce(pd.Series(pd.to_timedelta([1, 2], unit="s")), TS).wrong_type.tolist() == [True, True]


def test_ids_accept_strings_and_integers_but_not_floats_or_bools():
    coerced = coerce(pd.Series(["a", 7, 1.5, None, True], dtype=object), "string")
    assert coerced.values.tolist()[:2] == ["a", "7"] and coerced.wrong_type.tolist() == [False, False, True, False, True]


def test_integers_reject_fractions():
    coerced = coerce(pd.Series(["30", "4.5", "x"]), "Int64")
    assert coerced.values[0] == 30 and coerced.wrong_type.tolist() == [False, True, True]


def test_epoch_unit_hint_names_the_unit():
    earliest, now = pd.Timestamp("1990-01-01", tz="UTC"), pd.Timestamp("2026-06-01", tz="UTC")
    seconds = pd.Series([1_767_225_600 + k for k in range(4)])
    assert epoch_unit_hint(seconds, earliest, now) is None
    assert epoch_unit_hint(seconds * 1000, earliest, now) == "milliseconds"
    assert epoch_unit_hint((seconds * 1_000_000).astype(str), earliest, now) == "microseconds"
    assert epoch_unit_hint(seconds * 1_000_000_000, earliest, now) == "nanoseconds"


def test_check_frame_keeps_wrong_values_and_extras():
    raw = pd.DataFrame({"user_id": ["u"] * 2, "item_id": ["i"] * 2, "timestamp": ["nope", "0001-01-01"], "extra": [1, 2]})
    frame = check_frame(raw, INTERACTIONS)
    assert frame["timestamp (wrong type)"].tolist() == ["nope", None]
    assert frame["timestamp (out of range)"].tolist() == [None, "0001-01-01"]
    assert "extra" in frame and "rating" in frame  # optional column added as null


def _parquet(table: pa.Table) -> bytes:
    buf = stdio.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _invalid_utf8_parquet() -> bytes:
    offsets = pa.py_buffer(np.array([0, 3], dtype=np.int32).tobytes())
    text = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(b"\xed\xa0\x80")])  # a lone surrogate
    return _parquet(pa.table({"item_id": text, "title": ["x"]}))


@pytest.mark.parametrize(
    "name, data, rule",
    [
        ("interactions.csv", b"", "empty file"),
        ("interactions.csv", b"user_id;item_id\nu;i\n", "delimiter"),
        ("interactions.csv", b"user_id,item_id\nu,\xff\n", "encoding"),
        ("interactions.csv", b"user_id,item_id\nu,\xed\xa0\x80\n", "encoding"),  # lone surrogate in UTF-8 form
        ("interactions.csv", "user_id,item_id\nu,i\n".encode("utf-16"), "encoding"),
        ("interactions.csv", b"user_id,item_id\nu\x00x,i\n", "control characters"),  # pandas would cut 'u\x00x' to 'u'
        ("interactions.csv", (",".join(f"c{k}" for k in range(70)) + "\n").encode(), "too many columns"),
        ("interactions.csv", b"x" * (1 << 20) + b"\n", "too many columns"),
        ("interactions.parquet", b"PAR1garbage", "unreadable parquet"),
        ("items.parquet", _invalid_utf8_parquet(), "encoding"),
        ("interactions.parquet", _parquet(pa.table({f"c{k}": [1] for k in range(70)})), "too many columns"),
        ("interactions.parquet", _parquet(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])), "duplicate columns"),
    ],
)
def test_unreadable_files_raise_named_problems(name, data, rule):
    with pytest.raises(FileProblem) as raised:
        read_table(Path(name), data, ValidateConfig())
    assert raised.value.rule == rule


def test_parquet_compression_bombs_are_refused_before_filling_memory():
    data = _parquet(pa.table({"title": ["x" * 1000] * 1000}))
    with pytest.raises(FileProblem) as raised:
        read_table(Path("items.parquet"), data, ValidateConfig(max_uncompressed_bytes=100_000))
    assert raised.value.rule == "file size" and "decompresses" in raised.value.message


def test_csv_keeps_na_like_ids_as_text_and_drops_a_bom():
    frame = read_table(Path("items.csv"), b"\xef\xbb\xbfitem_id,title\nNA,None\n")
    assert list(frame.columns) == ["item_id", "title"] and frame.iloc[0].tolist() == ["NA", "None"]


def test_numbers_and_ids_written_as_text_are_accepted_as_their_values():
    ratings = coerce(pd.Series(["4", "3.5", " 2 "], dtype=object), "float64")
    assert ratings.values.tolist() == [4.0, 3.5, 2.0] and not ratings.wrong_type.any()
    ids = coerce(pd.Series([101, 102], dtype="int64"), "string")
    assert ids.values.tolist() == ["101", "102"] and not ids.wrong_type.any()
