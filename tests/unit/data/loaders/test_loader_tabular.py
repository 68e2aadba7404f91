"""CSV and Parquet with a column mapping."""

from __future__ import annotations

import pandas as pd
import pytest

from recaug.data.loaders import DatasetError, load_dataset


def test_csv_file_with_mapping_and_iso_times(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("uid,sku,ts,kind\nu1,s1,2026-01-05T10:00:00Z,view\nu2,s1,2026-01-05T11:00:00+01:00,buy\n")
    ds = load_dataset("csv", path, mapping={"user_id": "uid", "item_id": "sku", "timestamp": "ts", "event_type": "kind"})
    assert ds.interactions["event_type"].tolist() == ["view", "buy"]
    assert ds.interactions["timestamp"].tolist() == [pd.Timestamp("2026-01-05 10:00", tz="UTC")] * 2
    assert sorted(ds.users["user_id"]) == ["u1", "u2"]


def test_parquet_folder_with_items_users_and_ms_epochs(tmp_path):
    pd.DataFrame({"uid": ["a", "b"], "sku": ["x", "y"], "ts": [1_767_600_000_000, 1_767_600_060_000]}).to_parquet(
        tmp_path / "interactions.parquet")
    pd.DataFrame({"sku": ["x", "y"], "name": ["Red mug", "Blue mug"], "price": [3.5, 4.0]}).to_parquet(
        tmp_path / "items.parquet")
    pd.DataFrame({"uid": ["a", "b"], "age": [31, 40]}).to_parquet(tmp_path / "users.parquet")
    ds = load_dataset("parquet", tmp_path, mapping={"user_id": "uid", "item_id": "sku", "timestamp": "ts", "title": "name"},
                      time_unit="ms")
    assert ds.interactions["timestamp"].iloc[1] == pd.Timestamp(1_767_600_060, unit="s", tz="UTC")
    assert ds.items.set_index("item_id").loc["y", "title"] == "Blue mug"
    assert ds.users.set_index("user_id").loc["b", "age"] == 40


def test_missing_mapping_says_which_flag_to_add(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("uid,sku,time\nu1,s1,1\n")
    with pytest.raises(DatasetError, match=r"events\.csv: missing required column\(s\) \['timestamp'\].*--map timestamp=<column>"):
        load_dataset("csv", path, mapping={"user_id": "uid", "item_id": "sku"})


def test_bad_number_names_row_and_column(tmp_path):
    (tmp_path / "interactions.csv").write_text("user_id,item_id,timestamp,rating\nu1,i1,1,4\nu1,i2,2,four\n")
    with pytest.raises(DatasetError, match=r"interactions\.csv, row 2: column 'rating' must be numeric, got 'four'"):
        load_dataset("csv", tmp_path)


def test_bad_timestamp_names_row(tmp_path):
    (tmp_path / "interactions.csv").write_text("user_id,item_id,timestamp\nu1,i1,2026-01-01\nu1,i2,not a date\n")
    with pytest.raises(DatasetError, match=r"row 2: column 'timestamp' is not a timestamp: 'not a date'"):
        load_dataset("csv", tmp_path)


def test_unknown_canonical_name_in_mapping(tmp_path):
    (tmp_path / "interactions.csv").write_text("user_id,item_id,timestamp\nu1,i1,1\n")
    with pytest.raises(DatasetError, match="'customer' is not a canonical column"):
        load_dataset("csv", tmp_path, mapping={"customer": "user_id"})


def test_unknown_option_is_rejected(tmp_path):
    with pytest.raises(DatasetError, match="invalid options"):
        load_dataset("csv", tmp_path, sheet="1")
