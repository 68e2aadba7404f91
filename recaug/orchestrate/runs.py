"""Run ids and per-task records.

Every orchestrated task writes one small JSON record to
`reports/<run>/tasks/<task>.json` with the time its stage function took and what it
returned. The run report reads these records to show wall time per task and the
orchestration overhead (wall time of the run minus the summed compute of its tasks).
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

from pydantic import BaseModel, Field

from recaug import io
from recaug.lake import Lake

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_run_id(raw: str) -> str:
    """Turn an orchestrator's run id (e.g. `manual__2026-01-05T00:00:00+00:00`) into a
    folder-safe name that still sorts and reads the same."""
    cleaned = _UNSAFE.sub("-", raw.replace("+00:00", "Z")).strip("-.")
    if not cleaned:
        raise ValueError(f"run id {raw!r} has no usable characters")
    return cleaned


class TaskRecord(BaseModel):
    """What one task did: when, how long its stage function ran, and its result."""

    task_id: str
    map_index: int = Field(-1, description="shard index of a mapped task, -1 otherwise")
    try_number: int = 1
    started_at: datetime
    ended_at: datetime
    compute_seconds: float = Field(description="time spent inside the stage function")
    status: str = Field("success", description="success | failed")
    result: dict[str, Any] | list[Any] | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}.{self.map_index}"


def record_path(lake: Lake, run_id: str, task_id: str, map_index: int = -1) -> str:
    name = task_id if map_index < 0 else f"{task_id}.{map_index}"
    return lake.url("reports", run_id, "tasks", f"{name}.json")


def write_record(lake: Lake, run_id: str, record: TaskRecord) -> None:
    io.write_json(record_path(lake, run_id, record.task_id, record.map_index), record.model_dump(mode="json"))


def read_records(lake: Lake, run_id: str) -> list[TaskRecord]:
    """All task records of a run, oldest first (empty when the run was not orchestrated)."""
    folder = lake.url("reports", run_id, "tasks")
    fs, path = io.filesystem(folder)
    if not fs.exists(path):
        return []
    records = [
        TaskRecord.model_validate(io.read_json(f"{folder}/{name.rsplit('/', 1)[-1]}"))
        for name in fs.ls(path, detail=False)
        if name.endswith(".json")
    ]
    return sorted(records, key=lambda r: (r.started_at, r.key))


@contextmanager
def timed_task(lake: Lake, run_id: str, task_id: str, map_index: int = -1, try_number: int = 1) -> Iterator[dict]:
    """Time the body and write its TaskRecord, also when it fails (then re-raise).

    The body puts the stage's JSON-able result into the yielded dict under "result".
    """
    holder: dict[str, Any] = {}
    started = datetime.now(timezone.utc)
    clock = time.perf_counter()
    status, error = "success", None
    try:
        yield holder
    except BaseException as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        record = TaskRecord(
            task_id=task_id, map_index=map_index, try_number=try_number,
            started_at=started, ended_at=datetime.now(timezone.utc),
            compute_seconds=time.perf_counter() - clock, status=status,
            result=holder.get("result"), error=error,
        )
        write_record(lake, run_id, record)
        log.info("%s %s in %.2fs (run %s)", record.key, status, record.compute_seconds, run_id)


class RunTiming(BaseModel):
    """Wall time of a run against the compute its tasks did."""

    wall_seconds: float
    compute_seconds: float
    overhead_seconds: float = Field(description="wall - compute: scheduling, process start, XCom, imports")
    overhead_ratio: float = Field(description="overhead / wall")
    per_task: dict[str, float] = Field(description="compute seconds per task (mapped shards summed)")


def run_timing(records: list[TaskRecord], started_at: datetime | None = None, ended_at: datetime | None = None) -> RunTiming | None:
    """Summarise records; the wall clock spans `started_at` (default: first task start)
    to `ended_at` (default: last task end)."""
    if not records:
        return None
    start = started_at or min(r.started_at for r in records)
    end = ended_at or max(r.ended_at for r in records)
    wall = max((end - start).total_seconds(), 1e-9)
    per_task: dict[str, float] = {}
    for r in records:
        per_task[r.task_id] = per_task.get(r.task_id, 0.0) + r.compute_seconds
    compute = sum(r.compute_seconds for r in records)
    overhead = max(wall - compute, 0.0)
    return RunTiming(
        wall_seconds=wall, compute_seconds=compute, overhead_seconds=overhead,
        overhead_ratio=overhead / wall, per_task=per_task,
    )


class RunInfo(BaseModel):
    """Orchestrator facts about a run that the lake cannot know by itself."""

    run_id: str
    orchestrator: str = Field("airflow", description="airflow | cli | dvc")
    dag_id: str | None = None
    orchestrator_run_id: str | None = None
    run_type: str | None = Field(None, description="scheduled | manual | ...")
    started_at: datetime | None = None
    params: dict[str, Any] = Field(default_factory=dict)


def write_run_info(lake: Lake, info: RunInfo) -> None:
    io.write_json(lake.url("reports", info.run_id, "run.json"), info.model_dump(mode="json"))


def read_run_info(lake: Lake, run_id: str) -> RunInfo | None:
    url = lake.url("reports", run_id, "run.json")
    return RunInfo.model_validate(io.read_json(url)) if io.exists(url) else None
