"""The whole nightly DAG on the celery profile of scripts/airflow.sh (`make airflow PROFILE=celery`).

Real services only: Airflow's metadata and Celery's results in a fresh PostgreSQL
database, the broker a throwaway RabbitMQ vhost and user, Feast's online store in Redis
under a project of its own. `scripts/airflow.sh start` runs the API server, scheduler,
DAG processor and two Celery workers (queue `default`, and queue `gpu` for augment and
embed_shard); the run is triggered through the REST API on the tiny marketplace and the
small settings of test_nightly.py. Then: every task succeeded, each on the worker of its
queue (task_instance joined with the Celery result backend), the model is deployed, the
gateway answers from it with the histories Feast serves from Redis, and
`scripts/airflow.sh stop` ends every process of the instance, workers included.

Unset $RECAUG_TEST_POSTGRES_URL, $RECAUG_TEST_RABBITMQ_ADDRESS or $RECAUG_TEST_REDIS_URL
skips the test, naming the variable; set, any failure fails it (.ci/run sets all three).
"""

from __future__ import annotations

import json
import socket
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest

import airflow_helpers
from nightly_helpers import NIGHTLY_TASKS, gateway_recommendation, synthesize_landing, tiny_conf

sys.path.append(str(Path(__file__).resolve().parents[1] / "integration" / "production"))
from airflow_cli import query  # noqa: E402
from production_services import feast_redis_connection_string, unique_name  # noqa: E402
from service_fixtures import (  # noqa: E402, F401 (fixtures)
    broker_url, postgres_database, postgres_url, rabbitmq_address, redis_client, redis_url,
)

pytestmark = [pytest.mark.slow, pytest.mark.services, pytest.mark.timeout(1800)]

DAG_ID = "recaug_nightly"
GPU_TASKS = {"augment", "embed_shard"}
RUN_TIMEOUT_S = 1200
HOST = socket.gethostname()
WORKERS = {"default": f"default-1@{HOST}", "gpu": f"gpu-2@{HOST}"}  # names airflow.sh gives its workers


def _stop_triton(tmp: Path, lake: Path) -> None:
    """The deploy task started the bundled Triton detached (it outlives Airflow by design)."""
    import os

    os.environ["RECAUG_PARAMS"] = str(tmp / "no-params.yaml")
    from recaug.deploy.server import LocalTritonServer
    from recaug.settings import load_settings

    LocalTritonServer.from_settings(load_settings({"lake_root": str(lake)})).stop()


def _remove_project_keys(client, project: str) -> None:
    keys = list(client.scan_iter(match=b"*" + project.encode()))
    if keys:
        client.delete(*keys)


def _instance_processes(token: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("RECAUG_AIRFLOW_INSTANCE") == token:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return found


@pytest.fixture(scope="module")
def profile(tmp_path_factory, postgres_database, broker_url, redis_url, redis_client):
    """The celery profile started by scripts/airflow.sh on the test's database, vhost and Feast project.
    Teardown stops Airflow, then Triton, then removes the project's Redis keys, each even if
    an earlier one fails (the database and vhost fixtures go after)."""
    tmp = tmp_path_factory.mktemp("celery-profile")
    lake = tmp / "lake"
    synthesize_landing(lake, tmp)
    project = unique_name("recaug_celery")
    feast_env = {"RECAUG_REDIS_URL": feast_redis_connection_string(redis_url), "RECAUG_FEATURES__ONLINE_STORE__TYPE": "redis",
                 "RECAUG_FEATURES__PROJECT": project}
    port = airflow_helpers.free_port()
    env = airflow_helpers.standalone_env(tmp, port, AIRFLOW_PROFILE="celery", RECAUG_AIRFLOW_DB_URL=postgres_database,
                                         RECAUG_BROKER_URL=broker_url, **feast_env)
    with ExitStack() as cleanup:
        cleanup.callback(_remove_project_keys, redis_client, project)
        cleanup.callback(_stop_triton, tmp, lake)
        cleanup.callback(airflow_helpers.stop, env)
        airflow_helpers.start(env)
        home = tmp / "airflow"
        yield {"tmp": tmp, "lake": lake, "home": home, "url": f"http://127.0.0.1:{port}", "env": env, "feast_env": feast_env,
               "database": postgres_database, "project": project, "token": (home / "standalone.instance").read_text().strip()}


def _logs(home: Path, run_id: str | None = None, chars: int = 2500) -> str:
    """Tails of the services' logs, and of the run's task logs that mention an error."""
    parts = [f"--- {log.name}:\n{log.read_text(errors='replace')[-chars:]}"
             for log in sorted(home.glob("*.log"))]
    if run_id:
        for log in sorted((home / "logs").rglob("*.log")):
            text = log.read_text(errors="replace")
            if run_id in str(log) and ("error" in text.lower() or "Traceback" in text):
                parts.append(f"--- {log.relative_to(home)}:\n{text[-chars:]}")
    return "\n".join(parts)


def _task_rows(database: str, run_id: str) -> list[dict]:
    """Each task instance of the run with the Celery worker and queue the result backend recorded."""
    columns = ("task_id", "map_index", "state", "queue", "worker", "celery_queue")
    rows = query(database, "SELECT ti.task_id, ti.map_index, ti.state, ti.queue, m.worker, m.queue FROM task_instance ti "
                           "LEFT JOIN celery_taskmeta m ON m.task_id = ti.external_executor_id "
                           "WHERE ti.dag_id = %s AND ti.run_id = %s ORDER BY ti.start_date", DAG_ID, run_id)
    return [dict(zip(columns, row)) for row in rows]


def _wait_for_run(profile: dict, run_id: str) -> str:
    """Poll the run in the metadata database (the API server's one worker may be slow to answer
    on a busy machine); fail at once, with the task's log, when a task fails or is retried."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        (state,), = query(profile["database"], "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)
        if state in ("success", "failed"):
            return state
        broken = [row for row in _task_rows(profile["database"], run_id) if row["state"] in ("failed", "up_for_retry")]
        if broken:
            pytest.fail(f"task {broken[0]['task_id']} is {broken[0]['state']}:\n{_logs(profile['home'], run_id)}")
        time.sleep(5)
    pytest.fail(f"run {run_id} did not finish in {RUN_TIMEOUT_S} s:\n{_logs(profile['home'], run_id)}")


@pytest.fixture(scope="module")
def nightly_run(profile):
    headers = {"Authorization": f"Bearer {airflow_helpers.token(profile['home'], profile['url'])}"}
    api = f"{profile['url']}/api/v2/dags/{DAG_ID}"
    airflow_helpers.wait_for_dag(profile["url"], DAG_ID, headers)
    started = time.monotonic()
    response = httpx.post(f"{api}/dagRuns", headers=headers, json={"logical_date": None, "conf": tiny_conf(profile["lake"])},
                          timeout=120)
    assert response.status_code == 200, response.text
    run_id = response.json()["dag_run_id"]
    state = _wait_for_run(profile, run_id)
    wall_s = time.monotonic() - started
    print(f"\nrecaug_nightly on the celery profile: {state} in {wall_s:.0f} s (trigger to finish)")
    return {"run_id": run_id, "state": state}


def test_the_whole_nightly_run_succeeds_each_task_on_the_worker_of_its_queue(profile, nightly_run):
    assert nightly_run["state"] == "success", _logs(profile["home"], nightly_run["run_id"])
    rows = _task_rows(profile["database"], nightly_run["run_id"])
    states = {row["task_id"]: row["state"] for row in rows if row["state"] != "success"}
    assert states == {"set_aside_derived": "skipped"}, states  # no full rebuild asked for
    ran = [row for row in rows if row["state"] == "success"]
    assert {row["task_id"] for row in rows} == NIGHTLY_TASKS
    assert sorted(row["task_id"] for row in ran) == sorted([*NIGHTLY_TASKS - {"set_aside_derived"}, "embed_shard"])  # 2 shards

    # the result backend stores a workload's result just after the task reports success
    deadline = time.monotonic() + 60
    while any(row["worker"] is None for row in ran) and time.monotonic() < deadline:
        time.sleep(2)
        ran = [row for row in _task_rows(profile["database"], nightly_run["run_id"]) if row["state"] == "success"]
    for row in ran:
        queue = "gpu" if row["task_id"] in GPU_TASKS else "default"
        assert (row["queue"], row["celery_queue"], row["worker"]) == (queue, queue, WORKERS[queue]), row
    per_worker = pd.Series([row["worker"] for row in ran]).value_counts().to_dict()
    print(f"tasks per worker: {per_worker}")
    assert set(per_worker) == set(WORKERS.values())


def test_the_model_is_deployed_and_the_gateway_answers_from_it_with_redis_features(profile, nightly_run, redis_client):
    from recaug.orchestrate.runs import safe_run_id

    lake = profile["lake"]
    assert nightly_run["state"] == "success"
    run_dir = lake / "reports" / safe_run_id(nightly_run["run_id"])
    assert json.loads((run_dir / "tasks" / "deploy.json").read_text())["result"]["outcome"] == "deployed"
    assert (run_dir / "report.html").is_file()
    assert "${RECAUG_REDIS_URL}" in (lake / "feast" / "feature_store.yaml").read_text()
    assert not (lake / "feast" / "online_store.db").exists(), "the online store is Redis, not SQLite"
    assert list(redis_client.scan_iter(match=b"*" + profile["project"].encode(), count=1000))

    interactions = pd.read_parquet(lake / "curated" / "interactions.parquet")
    counts = interactions["user_id"].value_counts()
    user = counts[(counts >= 3) & (counts <= 20)].index[0]  # whole history fits in the served history
    answer = gateway_recommendation(lake, profile["tmp"], user, k=5, **profile["feast_env"])
    assert answer["user_id"] == user and answer["source"] == "model" and len(answer["items"]) == 5
    seen = set(interactions.loc[interactions["user_id"] == user, "item_id"])
    assert not seen & {item["item_id"] for item in answer["items"]}, "the history Redis served was excluded"


def test_stop_ends_every_process_of_the_profile_workers_included(profile):
    processes = _instance_processes(profile["token"])
    workers = [p for p in processes if "celery worker" in " ".join(p.cmdline())]
    assert len(workers) >= 2, [" ".join(p.cmdline()) for p in processes]
    stopped = airflow_helpers.stop(profile["env"])
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "airflow stopped" in stopped.stdout
    assert _instance_processes(profile["token"]) == []
