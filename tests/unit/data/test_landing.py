"""Landing batches from a loaded dataset: per-day split, first-seen placement, atomic and idempotent writes."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from recaug.data.landing import list_batches, load_to_landing, write_batch
from recaug.data.loaders import DatasetError


@pytest.fixture
def events_csv(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "interactions.csv").write_text(
        "user_id,item_id,timestamp\n"
        "u1,i1,2018-09-23T23:59:59Z\n"
        "u2,i2,2018-09-24T00:00:00Z\n"
        "u1,i2,2018-09-24T12:00:00Z\n"
        "u3,i1,2018-09-26T08:00:00Z\n"
    )
    (folder / "items.csv").write_text("item_id,title\ni1,Mug\ni2,Pen\ni3,Never bought\n")
    return folder


def read(out, batch, table):
    return pd.read_parquet(out / batch / f"{table}.parquet")


def test_day_batches_with_items_and_users_where_first_seen(events_csv, tmp_path):
    out = tmp_path / "landing"
    summary = load_to_landing("csv", events_csv, out, batch_by="day")
    assert summary.batches == ["2018-09-23", "2018-09-24", "2018-09-26"] == list_batches(out)
    assert summary.written == 3 and summary.interactions == 4
    assert read(out, "2018-09-24", "interactions")["item_id"].tolist() == ["i2", "i2"]
    # i3 was never interacted with: it lands in the first batch with the catalogue
    assert sorted(read(out, "2018-09-23", "items")["item_id"]) == ["i1", "i3"]
    assert read(out, "2018-09-24", "items")["item_id"].tolist() == ["i2"]
    assert read(out, "2018-09-26", "items").empty
    assert read(out, "2018-09-26", "users")["user_id"].tolist() == ["u3"]
    assert str(read(out, "2018-09-23", "interactions")["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_rerun_is_a_no_op_and_changed_input_rewrites_only_changed_batches(events_csv, tmp_path):
    out = tmp_path / "landing"
    load_to_landing("csv", events_csv, out)
    before = {b: os.stat(out / b / "interactions.parquet").st_mtime_ns for b in list_batches(out)}
    again = load_to_landing("csv", events_csv, out)
    assert again.written == 0 and again.unchanged == 3
    assert before == {b: os.stat(out / b / "interactions.parquet").st_mtime_ns for b in list_batches(out)}
    with open(events_csv / "interactions.csv", "a") as fh:
        fh.write("u3,i2,2018-09-26T09:00:00Z\n")
    third = load_to_landing("csv", events_csv, out)
    assert third.written == 1
    assert len(read(out, "2018-09-26", "interactions")) == 2
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging folders left


def test_month_and_single_batch(events_csv, tmp_path):
    assert load_to_landing("csv", events_csv, tmp_path / "m", batch_by="month").batches == ["2018-09"]
    single = load_to_landing("csv", events_csv, tmp_path / "one", batch_by="none")
    assert single.batches == ["2018-09-26"]  # named after its last day, so later batches sort after it
    assert len(read(tmp_path / "one", "2018-09-26", "items")) == 3


def test_failed_batch_write_leaves_previous_batch_intact(tmp_path, monkeypatch):
    out = tmp_path / "landing"
    good = pd.DataFrame({"user_id": ["u"], "item_id": ["i"], "timestamp": pd.to_datetime([1], unit="s", utc=True)})
    assert write_batch(out, "2026-01-01", {"interactions": good})
    original = (out / "2026-01-01" / "interactions.parquet").read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("recaug.data.landing.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_batch(out, "2026-01-01", {"interactions": good.assign(user_id=["v"])})
    assert (out / "2026-01-01" / "interactions.parquet").read_bytes() == original
    assert list_batches(out) == ["2026-01-01"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_loader_errors_surface_before_anything_is_written(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "interactions.csv").write_text("user_id,item_id,timestamp\nu1,i1,soon\n")
    with pytest.raises(DatasetError, match="row 1"):
        load_to_landing("csv", folder, tmp_path / "landing")
    assert not (tmp_path / "landing").exists()
