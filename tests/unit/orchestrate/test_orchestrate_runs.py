from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from recaug.orchestrate.batches import pending_batches
from recaug.orchestrate.runs import TaskRecord, read_records, run_timing, safe_run_id, timed_task


def test_safe_run_id_keeps_order_and_readability():
    assert safe_run_id("scheduled__2026-01-05T02:00:00+00:00") == "scheduled__2026-01-05T02-00-00Z"
    assert safe_run_id("manual__a b/c") == "manual__a-b-c"
    with pytest.raises(ValueError):
        safe_run_id("///")


def test_timed_task_records_success_and_failure(settings):
    lake = settings.lake
    with timed_task(lake, "r1", "train") as record:
        record["result"] = {"artifact_dir": "x"}
    with pytest.raises(RuntimeError, match="boom"):
        with timed_task(lake, "r1", "embed_shard", map_index=1, try_number=2):
            raise RuntimeError("boom")
    records = {r.key: r for r in read_records(lake, "r1")}
    assert records["train"].status == "success" and records["train"].result == {"artifact_dir": "x"}
    failed = records["embed_shard.1"]
    assert failed.status == "failed" and failed.error == "RuntimeError: boom" and failed.try_number == 2
    assert read_records(lake, "other-run") == []


def test_run_timing_sums_mapped_shards_and_measures_overhead():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def rec(task, start, seconds, index=-1):
        return TaskRecord(task_id=task, map_index=index, started_at=t0 + timedelta(seconds=start),
                          ended_at=t0 + timedelta(seconds=start + seconds), compute_seconds=seconds)

    records = [rec("a", 1, 2), rec("b", 4, 1, 0), rec("b", 6, 3, 1)]
    timing = run_timing(records, started_at=t0, ended_at=t0 + timedelta(seconds=12))
    assert timing.wall_seconds == 12 and timing.compute_seconds == 6
    assert timing.per_task == {"a": 2, "b": 4}
    assert timing.overhead_seconds == 6 and timing.overhead_ratio == pytest.approx(0.5)
    assert run_timing([]) is None


def test_pending_batches_lists_landing_folders_in_order(settings):
    landing = settings.lake.local("landing")
    for name in ("2026-01-03", "2026-01-01", ".staging"):
        (landing / name).mkdir()
    (landing / "notes.txt").write_text("not a batch")
    assert pending_batches(settings.lake) == ["2026-01-01", "2026-01-03"]
