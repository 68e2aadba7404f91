from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recaug.data.schemas import INTERACTIONS, TS
from recaug.validate.frames import FileProblem, check_frame, coerce, read_table


def test_timestamps_accept_epoch_iso_and_datetimes_and_flag_the_rest():
    raw = pd.Series(["1767225600", "2026-01-01T00:00:00Z", "soon", None, "99999999999999"], dtype=object)
    values, invalid = coerce(raw, TS)
    assert values[0] == values[1] == pd.Timestamp("2026-01-01", tz="UTC")
    assert invalid.tolist() == [False, False, True, False, True]


def test_ids_accept_strings_and_integers_but_not_floats():
    values, invalid = coerce(pd.Series(["a", 7, 1.5, None], dtype=object), "string")
    assert values.tolist()[:2] == ["a", "7"] and invalid.tolist() == [False, False, True, False]


def test_integers_reject_fractions():
    values, invalid = coerce(pd.Series(["30", "4.5", "x"]), "Int64")
    assert values[0] == 30 and invalid.tolist() == [False, True, True]


def test_check_frame_keeps_wrong_values_and_extras():
    raw = pd.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": ["nope"], "extra": [1]})
    frame = check_frame(raw, INTERACTIONS)
    assert frame["timestamp (wrong type)"].tolist() == ["nope"]
    assert "extra" in frame and "rating" in frame  # optional column added as null


@pytest.mark.parametrize(
    "name, data, rule",
    [
        ("interactions.csv", b"", "empty file"),
        ("interactions.csv", b"user_id;item_id\nu;i\n", "delimiter"),
        ("interactions.csv", b"user_id,item_id\nu,\xff\n", "encoding"),
        ("interactions.parquet", b"PAR1garbage", "unreadable parquet"),
    ],
)
def test_unreadable_files_raise_named_problems(name, data, rule):
    with pytest.raises(FileProblem) as raised:
        read_table(Path(name), data)
    assert raised.value.rule == rule


def test_csv_keeps_na_like_ids_as_text():
    frame = read_table(Path("items.csv"), b"item_id,title\nNA,None\n")
    assert frame.iloc[0].tolist() == ["NA", "None"]
