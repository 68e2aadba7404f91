"""Two small DAGs on the real stage runner, for the lake-lease fault tests (copied into
a temporary DAG folder by tests/faults/test_lake_faults.py; not a test module itself)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pendulum
from airflow.sdk import dag, get_current_context, task

from recaug_airflow.failure_summary import write_failure_summary
from recaug_airflow.stage_runner import run_stage

START = pendulum.datetime(2026, 1, 1, tz="UTC")


def lock_status(settings) -> dict:
    from recaug.lake_lock import LakeLock

    return LakeLock(settings.lake, settings.lock).status().model_dump(mode="json")


def fail_stage(settings) -> None:
    raise RuntimeError("stage broke on purpose")


@dag(dag_id="lease_ok", schedule=None, start_date=START, catchup=False)
def lease_ok():
    @task
    def first() -> dict:
        return run_stage(get_current_context(), lock_status)

    @task
    def between(_: dict) -> None:
        """A CLI writer that tries to slip in while no task of the run is running."""
        done = subprocess.run([sys.executable, "-m", "recaug.cli", "report", "--run-id", "intruder"],
                              capture_output=True, text=True)
        with open(os.environ["LEASE_PROBE_OUT"], "w") as fh:
            json.dump({"exit": done.returncode, "stderr": done.stderr}, fh)

    @task
    def last(_: None) -> dict:
        return run_stage(get_current_context(), lock_status, ends_run=True)

    last(between(first()))


@dag(dag_id="lease_fail", schedule=None, start_date=START, catchup=False,
     default_args={"retries": 0, "on_failure_callback": write_failure_summary})
def lease_fail():
    @task
    def first() -> dict:
        return run_stage(get_current_context(), lock_status)

    @task
    def boom(_: dict) -> None:
        run_stage(get_current_context(), fail_stage)

    boom(first())


lease_ok()
lease_fail()
