"""EventLog: durable appends, idempotence on event_id, rotation, orphans and torn lines."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from recaug.events import segments
from recaug.events.log import EventLog, log_root, read_events
from recaug.events.validation import EventsRejected

TWO_DAYS_AGO = (datetime.now(timezone.utc) - timedelta(days=2)).isoformat()


def _event(n: int, **fields) -> dict:
    return {"event_id": f"e{n}", "user_id": f"u{n % 3}", "item_id": f"i{n}", "event_type": "click", **fields}


def test_appended_events_read_back_with_the_contract_columns_and_types(settings):
    with EventLog(settings) as event_log:
        assert event_log.append([_event(1), _event(2, event_type="rating", value=4.5, timestamp=TWO_DAYS_AGO,
                                                   request_id="r1", arm="champion", model_version="3")]) == 2
    events = read_events(settings)
    assert list(events.columns) == ["event_id", "user_id", "item_id", "event_type", "value", "timestamp",
                                    "request_id", "arm", "model_version", "received_at"]
    assert str(events["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert str(events["received_at"].dtype) == "datetime64[ns, UTC]"
    assert events["event_id"].tolist() == ["e1", "e2"]
    assert pd.isna(events.loc[0, "value"]) and events.loc[1, "value"] == 4.5
    assert events.loc[0, "request_id"] is None and events.loc[1, "arm"] == "champion"


def test_the_same_event_id_is_logged_once_also_by_a_new_writer(settings):
    with EventLog(settings) as first:
        assert first.append([_event(1), _event(2)]) == 2
        assert first.append([_event(2), _event(3)]) == 1
    with EventLog(settings) as second:  # a restarted gateway remembers the recent ids
        assert second.append([_event(1)]) == 0
    assert read_events(settings)["event_id"].tolist() == ["e1", "e2", "e3"]


def test_invalid_records_are_refused_and_nothing_is_written(settings):
    with EventLog(settings) as event_log:
        with pytest.raises(EventsRejected, match="event 1 field 'event_type': event type"):
            event_log.append([_event(1), _event(2, event_type="like")])
    assert read_events(settings).empty


def test_segments_rotate_by_size_and_age(settings):
    settings.events.segment_max_bytes = 4096
    with EventLog(settings) as event_log:
        for n in range(60):  # ~200 bytes per line
            event_log.append([_event(n)])
        assert len(segments.segments_in(log_root(settings) / segments.SEALED)) >= 2
        settings.events.segment_max_age_s = 1e-6
        before = len(segments.segments_in(log_root(settings) / segments.SEALED))
        event_log.append([_event(100)])
        event_log.append([_event(101)])
        assert len(segments.segments_in(log_root(settings) / segments.SEALED)) == before + 2
    assert len(read_events(settings)) == 62


def test_appends_are_written_while_a_sync_is_in_flight_and_each_returns_after_its_own_sync(settings, monkeypatch):
    event_log = EventLog(settings)
    event_log.append([_event(0)])  # opens the segment
    path = event_log._segment.path
    syncs = []
    original = os.fdatasync

    def held_fdatasync(fd):
        if not syncs:  # hold the first sync until the seven other appends are written behind it
            deadline = time.monotonic() + 60
            while path.read_bytes().count(b"\n") < 9 and time.monotonic() < deadline:
                time.sleep(0.001)
        syncs.append(path.read_bytes().count(b"\n"))
        original(fd)

    monkeypatch.setattr(os, "fdatasync", held_fdatasync)
    threads = [threading.Thread(target=event_log.append, args=([_event(n)],)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    event_log.close()
    assert len(syncs) == 8 and syncs[0] == 9, syncs  # the first sync covered every line written meanwhile
    assert sorted(read_events(settings)["event_id"]) == sorted(f"e{n}" for n in range(9))


def test_since_filters_on_event_time(settings):
    now = datetime.now(timezone.utc)
    with EventLog(settings) as event_log:
        event_log.append([_event(1, timestamp=(now - timedelta(days=2)).isoformat()), _event(2)])
    assert read_events(settings, since=now - timedelta(days=1))["event_id"].tolist() == ["e2"]


@pytest.mark.slow  # a fresh interpreter
def test_a_killed_writer_loses_nothing_acknowledged_and_its_segment_is_sealed_as_an_orphan(settings, tmp_path):
    script = (
        "import os, sys\n"
        "from recaug.settings import load_settings\n"
        "from recaug.events.log import EventLog\n"
        f"log = EventLog(load_settings({{'lake_root': {settings.lake_root!r}}}))\n"
        "log.append([{'event_id': f'k{n}', 'user_id': 'u', 'item_id': f'i{n}', 'event_type': 'click'} for n in range(50)])\n"
        "os.write(log._segment.fd, b'{\"event_id\": \"torn')\n"  # a write the kill interrupted
        "print('acknowledged', flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == -9 and "acknowledged" in result.stdout, result.stderr
    root = log_root(settings)
    assert len(segments.segments_in(root / segments.ACTIVE)) == 1
    assert len(read_events(settings)) == 50  # the torn line is skipped
    sealed = segments.seal_orphans(root)
    assert len(sealed) == 1 and sealed[0].read_bytes().endswith(b"\n")
    assert segments.segments_in(root / segments.ACTIVE) == []
    assert read_events(settings)["event_id"].tolist() == [f"k{n}" for n in range(50)]


def test_a_live_writers_segment_is_not_taken_as_an_orphan(settings):
    with EventLog(settings) as event_log:
        event_log.append([_event(1)])
        assert segments.seal_orphans(log_root(settings)) == []
        assert len(segments.segments_in(log_root(settings) / segments.ACTIVE)) == 1


def test_a_damaged_line_inside_a_segment_is_an_error_naming_it(settings):
    with EventLog(settings) as event_log:
        event_log.append([_event(1)])
    sealed = segments.segments_in(log_root(settings) / segments.SEALED)[0]
    sealed.write_bytes(b"not json\n" + sealed.read_bytes())
    with pytest.raises(ValueError, match=f"{sealed.name}: line 1 is not JSON"):
        read_events(settings)
