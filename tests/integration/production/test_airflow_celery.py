"""Airflow's CeleryExecutor on the machine's RabbitMQ and PostgreSQL, running a recaug stage.

The production executor as docs/PRODUCTION.md sets it up: metadata and Celery results
in a fresh PostgreSQL database, the broker a throwaway RabbitMQ vhost with its own user
(random password, deleted afterwards: the broker's default user appears nowhere), and
real `airflow api-server`, `scheduler`, `dag-processor` and `celery worker` processes.
A DAG whose task runs `recaug.data.synth.synthesize` is triggered twice: once it must
write what an in-process run writes, once with a bad override it must fail with the
setting named. The whole nightly DAG on this executor: tests/e2e/test_nightly_celery.py.

The broker is the one at $RECAUG_TEST_RABBITMQ_ADDRESS (host:port) and the database
server the one at $RECAUG_TEST_POSTGRES_URL: unset, the tests skip and name the
variable; set, a service that does not answer, a broker rabbitmqctl cannot manage or
one that refuses the test user fails them.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from airflow_cli import AirflowCli, query
from production_services import unique_name

pytestmark = [pytest.mark.services, pytest.mark.slow]

RUN_TIMEOUT_S = 240
TINY_MARKET = {"data": {"synth": {"n_users": 20, "n_items": 40, "n_interactions": 300, "n_days": 3, "seed": 11}}}

STAGE_DAG = '''
from __future__ import annotations

import pendulum
from airflow.sdk import dag, get_current_context, task


@dag(dag_id="recaug_celery_stage", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
     catchup=False, max_active_runs=1)
def stage():
    @task(queue="{queue}", retries=0)
    def synthesize() -> dict:
        from recaug.data.synth import synthesize as run
        from recaug.settings import load_settings

        conf = get_current_context()["dag_run"].conf
        return run(load_settings(conf["overrides"]), conf["out_dir"]).model_dump(mode="json")

    synthesize()


stage()
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def celery_airflow(postgres_database, broker_url, tmp_path_factory):
    """Airflow with the CeleryExecutor: API server, scheduler, DAG processor and one worker on its own queue."""
    from sqlalchemy.engine import make_url

    home = tmp_path_factory.mktemp("airflow-celery")
    queue = unique_name("recaug_stages")
    dags = home / "dags"
    dags.mkdir()
    (dags / "stage.py").write_text(STAGE_DAG.replace("{queue}", queue))
    results = make_url(postgres_database).set(drivername="db+postgresql+psycopg2").render_as_string(hide_password=False)
    cli = AirflowCli(
        home, postgres_database, port=free_port(),
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CELERY__BROKER_URL=broker_url,
        AIRFLOW__CELERY__RESULT_BACKEND=results,
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        OMP_NUM_THREADS="1",
    )
    cli("db", "migrate")
    services = [cli.start(*command) for command in (
        ("api-server",), ("scheduler",), ("dag-processor",),
        ("celery", "worker", "--queues", queue, "--concurrency", "1", "--without-gossip", "--without-mingle"),
    )]
    try:
        wait_for(lambda: query(postgres_database, "SELECT 1 FROM dag WHERE dag_id = 'recaug_celery_stage'"),
                 "the DAG processor to register recaug_celery_stage", services)
        yield cli, queue, services
    finally:
        for service in reversed(services):
            service.stop()


def wait_for(condition, what: str, services, timeout_s: float = RUN_TIMEOUT_S):
    """Poll `condition` until truthy; fail naming `what`, with the services' logs, if one dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for service in services:
            service.check_running()
        value = condition()
        if value:
            return value
        time.sleep(1)
    logs = "\n".join(f"--- airflow {s.name}:\n{s.tail(1500)}" for s in services)
    pytest.fail(f"gave up waiting for {what} after {timeout_s:.0f} s\n{logs}")


def trigger(celery_airflow, conf: dict) -> tuple[str, str]:
    """Trigger one run; returns (run_id, final state)."""
    cli, _, services = celery_airflow
    run_id = unique_name("celery_run")
    cli("dags", "trigger", "recaug_celery_stage", "--run-id", run_id, "--conf", json.dumps(conf))
    finished = wait_for(
        lambda: query(cli.database_url, "SELECT state FROM dag_run WHERE dag_id = 'recaug_celery_stage' AND run_id = %s "
                                        "AND state IN ('success', 'failed')", run_id),
        f"run {run_id} to finish", services)
    return run_id, finished[0][0]


def task_row(cli, run_id: str) -> dict:
    (row,) = query(cli.database_url, "SELECT state, queue, hostname FROM task_instance "
                                     "WHERE dag_id = 'recaug_celery_stage' AND run_id = %s", run_id)
    return dict(zip(("state", "queue", "hostname"), row))


def test_a_celery_worker_runs_the_stage_as_an_in_process_run_does(celery_airflow, settings, tmp_path):
    from recaug.data.synth import synthesize
    from recaug.settings import load_settings

    cli, queue, services = celery_airflow
    remote_dir = tmp_path / "remote"
    run_id, state = trigger(celery_airflow, {"overrides": TINY_MARKET, "out_dir": str(remote_dir)})
    assert state == "success"
    assert task_row(cli, run_id) == {"state": "success", "queue": queue, "hostname": socket.gethostname()}
    # the task went through Celery: its result backend records the workload (stored just after the task reports)
    wait_for(lambda: query(cli.database_url, "SELECT 1 FROM celery_taskmeta WHERE status = 'SUCCESS'"),
             "the Celery result of the workload", services, timeout_s=30)

    local_dir = tmp_path / "local"
    local = synthesize(load_settings(TINY_MARKET), local_dir)  # `settings` isolated the env and params.yaml
    (value,) = query(cli.database_url, "SELECT value FROM xcom WHERE dag_id = 'recaug_celery_stage' AND run_id = %s "
                                       "AND key = 'return_value'", run_id)
    summary = json.loads(value[0]) if isinstance(value[0], str) else value[0]
    assert summary == {**local.model_dump(mode="json"), "out_dir": str(remote_dir)}
    assert summary["batches_written"] == 3 and summary["interactions"] > 0
    remote_files = sorted(p.relative_to(remote_dir) for p in remote_dir.rglob("*") if p.is_file())
    assert remote_files and remote_files == sorted(p.relative_to(local_dir) for p in local_dir.rglob("*") if p.is_file())
    assert all((remote_dir / p).read_bytes() == (local_dir / p).read_bytes() for p in remote_files)


def test_a_failing_stage_fails_its_task_with_the_setting_named(celery_airflow, tmp_path):
    cli, queue, _ = celery_airflow
    never = tmp_path / "never"
    run_id, state = trigger(celery_airflow, {"overrides": {"data": {"synth": {"n_users": 0}}}, "out_dir": str(never)})
    assert state == "failed"
    assert task_row(cli, run_id)["state"] == "failed"
    logs = "".join(p.read_text(errors="replace") for p in (cli.home / "logs").rglob(f"*{run_id}*/**/*") if p.is_file())
    assert "data.synth.n_users" in logs and "greater than or equal to 1" in logs
    assert not never.exists()
