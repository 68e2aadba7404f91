"""scripts/airflow_stop.py releases the lake lease of the runs it ended, once their processes
are gone: never a lease of another run, never while a holder process lives."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from recaug.lake import Lake
from recaug.lake_lock import LakeLock, LakeLockConfig

from test_lake_lock import holder_process, kill

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "airflow_stop.py"
RUN = "manual__2026-01-05T00:00:00+00:00"  # as Airflow names it; the lease key uses the safe form


def _airflow_stop():
    spec = importlib.util.spec_from_file_location("airflow_stop", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lease_of_an_ended_run_is_released_only_after_its_holder_is_gone(settings):
    stop = _airflow_stop()
    lake = settings.lake.root
    lock = LakeLock(Lake.at(lake), LakeLockConfig())
    runs = {RUN: {"lake_root": lake}}
    with holder_process(lake, "manual__2026-01-05T00-00-00Z") as task:
        assert stop.release_leases(runs)[0].startswith(f"kept the lake lease of run {RUN}: cannot unlock")
        kill(task)
    assert not lock.status().free  # the killed task's run keeps its lease between tasks
    assert stop.release_leases({"another-run": {"lake_root": lake}}) == []  # not that run's lease: untouched
    assert not lock.status().free
    released = stop.release_leases(runs)
    assert len(released) == 1 and "manual__2026-01-05T00-00-00Z" in released[0] and lake in released[0]
    assert lock.status().free  # a new writer gets the lake at once, not after lock.lease_timeout_minutes


def test_a_run_without_lake_root_in_its_conf_uses_the_operators_lake(settings, monkeypatch):
    monkeypatch.setenv("RECAUG_LAKE_ROOT", settings.lake.root)
    with holder_process(settings.lake.root, "scheduled__2026-01-06T00-00-00Z") as task:
        kill(task)
    released = _airflow_stop().release_leases({"scheduled__2026-01-06T00:00:00+00:00": {}})
    assert len(released) == 1 and settings.lake.root in released[0]

