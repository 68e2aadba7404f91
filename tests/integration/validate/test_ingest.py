"""Accepting batches: raw bytes, curated merge, idempotent reruns, crash recovery, CLI."""

from __future__ import annotations

import pandas as pd

from recaug.cli import main
from recaug.validate.ingest import ingest
from recaug.validate.quarantine import file_hashes, publish
from recaug.validate.state import Ledger

from validate_corpus import interactions, items, write_batch


def test_accepts_merges_and_is_idempotent(settings):
    lake = settings.lake
    write_batch(lake.local("landing", "2026-01-01"), {"items.parquet": items(), "interactions.csv": interactions()})
    newer = items(("i3", "i4")).assign(title=["renamed", "Item i4"])
    write_batch(lake.local("landing", "2026-01-02"), {"items.parquet": newer, "interactions.parquet": interactions(4, ("i4",))})
    sent = file_hashes(lake.local("landing", "2026-01-01"))

    result = ingest(settings)

    assert result.accepted == ["2026-01-01", "2026-01-02"]
    assert file_hashes(lake.local("raw", "2026-01-01")) == sent
    curated_items = pd.read_parquet(lake.items)
    assert curated_items.set_index("item_id").loc["i3", "title"] == "renamed"  # latest batch wins
    curated = pd.read_parquet(lake.interactions)
    assert len(curated) == 10 and set(curated["source"]) == {"observed"}
    assert str(curated["timestamp"].dtype) == "datetime64[ns, UTC]"
    before = file_hashes(lake.local("curated"))
    assert ingest(settings).model_dump(exclude={"curated_rows"}) == {"accepted": [], "rejected": [], "skipped": [], "reports": []}
    assert file_hashes(lake.local("curated")) == before


def test_a_curated_file_older_than_a_column_merges_with_nulls_there(settings):
    from recaug import io

    lake = settings.lake
    lake.ensure()
    old = pd.DataFrame({"user_id": ["u-old"], "item_id": ["i1"], "timestamp": [pd.Timestamp("2025-12-01", tz="UTC")]})
    io.write_parquet(old, lake.interactions)  # written before rating, source and confidence existed
    write_batch(lake.local("landing", "2026-01-01"), {"items.parquet": items(), "interactions.parquet": interactions()})

    assert ingest(settings).accepted == ["2026-01-01"]

    curated = pd.read_parquet(lake.interactions).set_index("user_id")
    assert len(curated) == 7 and pd.isna(curated.loc["u-old", "source"]) and pd.isna(curated.loc["u-old", "rating"])
    assert (curated.drop(index="u-old")["source"] == "observed").all()


def test_retry_after_crash_between_publish_and_ledger(settings):
    lake = settings.lake
    batch = write_batch(lake.local("landing", "2026-01-01"), {"items.parquet": items(), "interactions.parquet": interactions()})
    publish(batch, lake.local("raw", "2026-01-01"))  # the crash happened right after this step

    result = ingest(settings)

    assert result.accepted == ["2026-01-01"] and not batch.exists()
    assert Ledger.load(lake.url("state", "batches.json")).batches["2026-01-01"].status == "accepted"
    assert len(pd.read_parquet(lake.interactions)) == 6


def test_batches_of_one_call_see_each_others_items_and_curated_is_written_once(settings, monkeypatch):
    from recaug import io

    lake = settings.lake
    write_batch(lake.local("landing", "2026-01-01"), {"items.parquet": items(), "interactions.parquet": interactions()})
    # the second batch's interactions name items that only the first batch brought
    later = interactions(4).assign(timestamp=lambda f: f["timestamp"] + pd.Timedelta(days=1))
    write_batch(lake.local("landing", "2026-01-02"), {"interactions.parquet": later})
    written = []
    original = io.write_parquet
    monkeypatch.setattr(io, "write_parquet", lambda frame, url, **kw: (written.append(url), original(frame, url, **kw))[1])

    result = ingest(settings)

    assert result.accepted == ["2026-01-01", "2026-01-02"]
    assert sorted(url.rsplit("/", 1)[-1] for url in written) == ["interactions.parquet", "items.parquet"]
    assert len(pd.read_parquet(lake.interactions)) == 10


def test_retry_after_crash_between_curated_merge_and_ledger_duplicates_nothing(settings):
    lake = settings.lake
    batches = {"2026-01-01": 6, "2026-01-02": 4}
    for name, count in batches.items():
        write_batch(lake.local("landing", name), {"items.parquet": items(), "interactions.parquet": interactions(count)})
    ingest(settings)
    reference = {table: pd.read_parquet(lake.url("curated", f"{table}.parquet")) for table in ("items", "interactions")}
    # The state a crash right after the curated merge leaves: raw/ and curated/ written, the
    # ledger without the batches and their landing copies still there.
    lake.local("state", "batches.json").unlink()
    for name, count in batches.items():
        write_batch(lake.local("landing", name), {"items.parquet": items(), "interactions.parquet": interactions(count)})

    assert ingest(settings).accepted == list(batches)
    for table, frame in reference.items():
        pd.testing.assert_frame_equal(pd.read_parquet(lake.url("curated", f"{table}.parquet")), frame)


def test_redelivered_batch_with_other_bytes_is_refused(settings):
    lake = settings.lake
    write_batch(lake.local("landing", "b1"), {"items.parquet": items(), "interactions.parquet": interactions()})
    ingest(settings)
    write_batch(lake.local("landing", "b1"), {"items.parquet": items(), "interactions.parquet": interactions(3)})
    result = ingest(settings)
    assert result.rejected == ["b1"] and "batch already accepted" in result.summary()


def test_cli_exit_codes_and_message(settings, capsys):
    lake = settings.lake
    write_batch(lake.local("landing", "2026-01-01"), {"items.parquet": items(), "interactions.parquet": interactions()})
    assert main(["ingest", "--lake", str(lake.root)]) == 0
    write_batch(lake.local("landing", "2026-01-02"), {"interactions.csv": b"user_id;item_id;timestamp\n"})
    assert main(["ingest", "--lake", str(lake.root)]) == 3
    err = capsys.readouterr().err
    assert "batch 2026-01-02: rejected" in err and "interactions.csv" in err and "rule 'delimiter'" in err
    assert "Traceback" not in err
