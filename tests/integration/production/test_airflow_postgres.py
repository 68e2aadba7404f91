"""Airflow's metadata database on the machine's PostgreSQL.

A fresh database per module (dropped afterwards), `airflow db migrate` into it, then
real `airflow` commands in subprocesses: a small DAG run with `airflow dags test`, and
the project's DAGs parsed into Postgres with the GPU routing policy that
docs/PRODUCTION.md tells operators to install.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from airflow_cli import PROJECT_ROOT, AirflowCli, query

pytestmark = [pytest.mark.services, pytest.mark.slow]

PROBE_DAG = '''
from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="recaug_postgres_probe", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def probe():
    @task
    def make() -> list[int]:
        return [1, 2, 3]

    @task
    def total(values: list[int]) -> int:
        if values != [1, 2, 3]:
            raise ValueError(f"unexpected upstream value {values}")
        return sum(values)

    total(make())


probe()
'''


@pytest.fixture(scope="module")
def airflow(postgres_database, tmp_path_factory):
    cli = AirflowCli(tmp_path_factory.mktemp("airflow-home"), postgres_database)
    cli("db", "migrate")
    return cli


def test_migrate_builds_the_schema_in_postgres(airflow):
    (revision,) = query(airflow.database_url, "SELECT version_num FROM alembic_version")
    assert revision[0]
    tables = {row[0] for row in query(airflow.database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"dag", "dag_run", "task_instance", "serialized_dag", "xcom", "import_error"} <= tables


def test_dag_test_run_is_recorded_in_postgres(airflow, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "probe.py").write_text(PROBE_DAG)
    airflow("dags", "test", "recaug_postgres_probe", AIRFLOW__CORE__DAGS_FOLDER=str(dags))

    runs = query(airflow.database_url, "SELECT run_id, state FROM dag_run WHERE dag_id = %s", "recaug_postgres_probe")
    assert len(runs) == 1 and runs[0][1] == "success"
    tasks = dict(query(airflow.database_url,
                       "SELECT task_id, state FROM task_instance WHERE dag_id = %s AND run_id = %s",
                       "recaug_postgres_probe", runs[0][0]))
    assert tasks == {"make": "success", "total": "success"}
    (value,) = query(airflow.database_url, "SELECT value FROM xcom WHERE dag_id = %s AND task_id = 'total'",
                     "recaug_postgres_probe")
    stored = json.loads(value[0]) if isinstance(value[0], str) else value[0]
    assert stored == 6


def production_policy() -> str:
    """The `airflow_local_settings.py` that docs/PRODUCTION.md gives operators."""
    doc = (PROJECT_ROOT / "docs" / "PRODUCTION.md").read_text()
    match = re.search(r"<!-- airflow_local_settings.py -->\s*```python\n(.*?)```", doc, re.S)
    assert match, "docs/PRODUCTION.md lost its airflow_local_settings.py block"
    return textwrap.dedent(match.group(1))


def test_project_dags_parse_into_postgres_with_gpu_routing(airflow, tmp_path):
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "broken.py").write_text("from airflow.sdk import dag\nimport recaug_no_such_module\n")
    bundles = [
        {"name": "recaug", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {"path": str(PROJECT_ROOT / "dags")}},
        {"name": "canary", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
         "kwargs": {"path": str(canary)}},
    ]
    config = Path(airflow.env["AIRFLOW_HOME"]) / "config"
    config.mkdir(exist_ok=True)
    (config / "airflow_local_settings.py").write_text(production_policy())
    try:
        airflow("dags", "reserialize", AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST=json.dumps(bundles))
    finally:
        (config / "airflow_local_settings.py").unlink()

    errors = query(airflow.database_url, "SELECT bundle_name, filename, stacktrace FROM import_error")
    assert [(bundle, filename) for bundle, filename, _ in errors] == [("canary", "broken.py")]
    assert "recaug_no_such_module" in errors[0][2]  # the check sees import errors; the project's DAGs have none

    (data,) = query(airflow.database_url, "SELECT data FROM serialized_dag WHERE dag_id = 'recaug_nightly'")
    tasks = {t["__var"]["task_id"]: t["__var"] for t in data[0]["dag"]["tasks"]}
    gpu_tasks = {task_id for task_id, task in tasks.items() if _task_field(task, "pool") == "gpu"}
    assert {"augment", "embed_shard"} <= gpu_tasks
    assert {task_id: _task_field(tasks[task_id], "queue") for task_id in gpu_tasks} == {t: "gpu" for t in gpu_tasks}
    assert all(_task_field(task, "queue") in (None, "default") for task_id, task in tasks.items() if task_id not in gpu_tasks)


def _task_field(task: dict, name: str):
    """A serialized task's field; mapped tasks keep theirs in `partial_kwargs`."""
    if name in task:
        return task[name]
    partial = task.get("partial_kwargs", {})
    value = partial.get(name)
    return value.get("__var") if isinstance(value, dict) else value
