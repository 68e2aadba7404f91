"""export_events: sealed segments become one landing batch, exactly once, also when interrupted."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from recaug import io
from recaug.data.landing import list_batches
from recaug.events import segments
from recaug.events.export import export_events
from recaug.events.log import EventLog, log_root, read_events

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _log(settings, *events) -> None:
    with EventLog(settings) as event_log:  # closing seals the segment
        event_log.append(list(events))


def _event(event_id, user="u1", item="i1", kind="click", seconds_ago=60, **extra) -> dict:
    return {"event_id": event_id, "user_id": user, "item_id": item, "event_type": kind,
            "timestamp": (NOW - timedelta(seconds=seconds_ago)).isoformat(), **extra}


def _landed(settings, batch) -> pd.DataFrame:
    return io.read_parquet(settings.lake.url("landing", batch, "interactions.parquet"))


def test_sealed_segments_become_one_batch_of_interactions_and_are_never_exported_again(settings):
    _log(settings, _event("a", item="i1"), _event("b", item="i2", kind="rating", value=4.0),
         _event("c", item="i3", kind="impression"), _event("d", user="u2", item="i1", kind="purchase"))
    result = export_events(settings)
    assert result.segments == 1 and result.events == 4 and result.interactions == 3
    [batch] = result.batches
    assert batch.startswith("events-") and list_batches(settings.lake.url("landing")) == [batch]
    table = _landed(settings, batch).sort_values(["user_id", "item_id"]).reset_index(drop=True)
    assert table[["user_id", "item_id", "event_type"]].values.tolist() == [
        ["u1", "i1", "click"], ["u1", "i2", "rating"], ["u2", "i1", "purchase"]]
    assert table["rating"].isna().tolist() == [True, False, True] and table.loc[1, "rating"] == 4.0
    assert (table["source"] == "observed").all() and (table["confidence"] == 1.0).all()
    assert segments.segments_in(log_root(settings) / segments.SEALED) == []

    again = export_events(settings)
    assert again.batches == [] and again.segments == 0
    assert len(read_events(settings)) == 4, "exported events stay readable"


def test_events_on_one_user_item_and_second_collapse_to_the_strongest(settings):
    _log(settings, _event("a", kind="click"), _event("b", kind="purchase"), _event("c", kind="impression"))
    [batch] = export_events(settings).batches
    assert _landed(settings, batch)["event_type"].tolist() == ["purchase"]


def test_only_impressions_write_no_batch_but_are_marked_exported(settings):
    _log(settings, _event("a", kind="impression"))
    result = export_events(settings)
    assert result.batches == [] and result.segments == 1
    assert list_batches(settings.lake.url("landing")) == []
    assert export_events(settings).segments == 0


def test_a_live_writers_segment_waits_and_an_unlocked_one_is_exported(settings):
    live = EventLog(settings)
    live.append([_event("live")])
    assert export_events(settings).segments == 0
    live._retire(live._segment, broken=True)  # as after a failed write: closed unsealed, lock released
    result = export_events(settings)
    assert result.segments == 1 and result.interactions == 1


def test_an_export_interrupted_before_landing_is_finished_by_the_next_call(settings, monkeypatch):
    _log(settings, _event("a"))

    def crash(*args, **kwargs):
        raise OSError("disk went away")

    monkeypatch.setattr("recaug.data.landing.write_batch", crash)
    with pytest.raises(OSError):
        export_events(settings)
    monkeypatch.undo()
    [claimed] = list((log_root(settings) / segments.EXPORTING).iterdir())  # claimed before the crash
    _log(settings, _event("b", item="i2"))
    result = export_events(settings)
    assert len(result.batches) == 2 and result.batches[0] == claimed.name  # the interrupted one first
    assert [_landed(settings, b)["item_id"].tolist() for b in result.batches] == [["i1"], ["i2"]]
    assert not any((log_root(settings) / segments.EXPORTING).iterdir())


def test_an_export_interrupted_after_landing_writes_nothing_twice(settings, monkeypatch):
    _log(settings, _event("a"))
    monkeypatch.setattr(segments, "move", _fail_marking(segments.move))
    with pytest.raises(OSError):
        export_events(settings)
    monkeypatch.undo()
    [batch] = list_batches(settings.lake.url("landing"))
    first = io.read_bytes(settings.lake.url("landing", batch, "interactions.parquet"))
    result = export_events(settings)
    assert result.batches == [batch] and list_batches(settings.lake.url("landing")) == [batch]
    assert io.read_bytes(settings.lake.url("landing", batch, "interactions.parquet")) == first


def test_a_batch_the_ledger_knows_is_not_landed_again(settings, monkeypatch):
    from recaug.validate.state import ACCEPTED, BatchRecord, Ledger

    _log(settings, _event("a"))
    monkeypatch.setattr(segments, "move", _fail_marking(segments.move))
    with pytest.raises(OSError):
        export_events(settings)
    monkeypatch.undo()
    [batch] = list_batches(settings.lake.url("landing"))
    # ingest took the batch out of landing and recorded it, then the export is retried
    shutil.rmtree(settings.lake.local("landing", batch))
    ledger = Ledger()
    ledger.batches[batch] = BatchRecord(status=ACCEPTED, location=f"raw/{batch}", files={}, processed_at=NOW.isoformat())
    ledger.save(settings.lake.url("state", "batches.json"))
    result = export_events(settings)
    assert result.already_processed == [batch] and result.batches == []
    assert list_batches(settings.lake.url("landing")) == []


def _fail_marking(real_move):
    def move(path, folder):
        if folder.name == segments.EXPORTED:
            raise OSError("killed while marking")
        return real_move(path, folder)
    return move


def test_an_object_store_lake_without_a_log_dir_is_skipped(settings):
    remote = settings.model_copy(update={"lake_root": "memory://lake"})
    assert "local data lake" in export_events(remote).skipped
