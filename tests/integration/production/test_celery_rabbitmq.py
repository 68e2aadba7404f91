"""A real Celery worker on the machine's RabbitMQ running a recaug stage.

The Airflow Celery provider is not in requirements/lock.txt (docs/PRODUCTION.md says
what installing it changes), so this checks the layer under it: a worker process
consuming from a RabbitMQ vhost with its own user (created here with a random password
and deleted afterwards: the broker's default user appears nowhere), running a stage
and handing its JSON summary back. Running the DAG itself under Airflow's
CeleryExecutor is issue #16.

The broker is the one at $RECAUG_TEST_RABBITMQ_ADDRESS (host:port): unset, the tests
skip and name it; set, a broker that does not answer, cannot be managed with
rabbitmqctl or refuses the test user fails them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from production_services import RABBITMQ_ENV, unique_name

pytestmark = [pytest.mark.services, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
CELERY = str(Path(sys.executable).with_name("celery"))
RESULT_TIMEOUT = 90
WORKER_READY_TIMEOUT = 60
TINY_MARKET = {"data": {"synth": {"n_users": 20, "n_items": 40, "n_interactions": 300, "n_days": 3, "seed": 11}}}


def rabbitmqctl(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["rabbitmqctl", *args], input=stdin, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]} exited {result.returncode}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def require_rabbitmqctl() -> None:
    """The address is set, so a broker that cannot be managed fails the test instead of skipping it."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail(f"{RABBITMQ_ENV} is set but rabbitmqctl is not on PATH: the test needs it to create "
                    "a throwaway user and vhost on that broker")
    try:
        rabbitmqctl("status")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{RABBITMQ_ENV} is set but rabbitmqctl cannot manage the RabbitMQ node: {exc}")


def require_login(broker_url: str, shown: str) -> None:
    """The throwaway user logs in at the address: the variable names the node rabbitmqctl manages."""
    from kombu import Connection

    try:
        with Connection(broker_url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own errors (socket, AMQP access refused)
        pytest.fail(f"{RABBITMQ_ENV} is set but the broker at {shown} did not let the test user in: {exc}")


@pytest.fixture(scope="module")
def broker_url(rabbitmq_address):
    """amqp:// URL of a throwaway vhost and user on the RabbitMQ at $RECAUG_TEST_RABBITMQ_ADDRESS."""
    require_rabbitmqctl()
    host, port = rabbitmq_address
    user, vhost, password = unique_name("recaug_test"), unique_name("recaug_test"), secrets.token_urlsafe(24)
    rabbitmqctl("add_user", user, stdin=password)  # from stdin: the password never shows in `ps`
    try:
        rabbitmqctl("add_vhost", vhost)
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        url = f"amqp://{user}:{password}@{host}:{port}/{vhost}"
        require_login(url, f"{host}:{port}/{vhost}")
        yield url
    finally:
        rabbitmqctl("delete_user", user)
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, timeout=60)


def wait_until_consuming(worker: subprocess.Popen, broker_url: str, node: str, log: Path) -> None:
    """Block until the worker answers a ping over the broker; fail with its log if it exits or never does."""
    from celery import Celery

    probe = Celery("recaug_probe", broker=broker_url)
    try:
        for _ in range(WORKER_READY_TIMEOUT):
            if worker.poll() is not None:
                pytest.fail(f"the Celery worker exited {worker.returncode} before consuming:\n{log.read_text()[-3000:]}")
            if probe.control.ping(destination=[node], timeout=1.0):
                return
        pytest.fail(f"the Celery worker did not answer a ping within ~{WORKER_READY_TIMEOUT} s:\n{log.read_text()[-3000:]}")
    finally:
        probe.close()


@pytest.fixture(scope="module")
def queue(broker_url, tmp_path_factory):
    """A worker process consuming one queue; stopped (warm shutdown) afterwards."""
    name = unique_name("recaug_stages")
    node = f"{name}@{socket.gethostname()}"
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECAUG_")}
    env.update({
        "RECAUG_CELERY_BROKER_URL": broker_url,
        "RECAUG_PARAMS": str(log.parent / "no-params.yaml"),
        "PYTHONPATH": os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    })
    with log.open("w") as out:
        worker = subprocess.Popen(
            [CELERY, "-A", "stage_worker", "worker", "--pool=solo", "-Q", name, "-n", node,
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
            cwd=HERE, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        wait_until_consuming(worker, broker_url, node, log)
        yield name
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, f"worker exited {worker.returncode}:\n{log.read_text()[-3000:]}"


@pytest.fixture
def client(broker_url):
    from celery import Celery

    app = Celery("recaug_client", broker=broker_url, backend="rpc://")
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
    yield app
    app.close()


def run_remote(client, queue: str, *args):
    return client.send_task("recaug.data.synthesize", args=list(args), queue=queue).get(timeout=RESULT_TIMEOUT)


def test_worker_runs_a_stage_and_returns_its_summary(client, queue, settings, tmp_path):
    from recaug.data.synth import synthesize
    from recaug.settings import load_settings

    remote_dir = tmp_path / "remote"
    summary = run_remote(client, queue, TINY_MARKET, str(remote_dir))

    local_dir = tmp_path / "local"
    local = synthesize(load_settings(TINY_MARKET), local_dir)  # `settings` isolated the env and params.yaml
    assert summary == {**local.model_dump(mode="json"), "out_dir": str(remote_dir)}
    assert summary["batches_written"] == 3 and summary["interactions"] > 0
    remote_files = sorted(p.relative_to(remote_dir) for p in remote_dir.rglob("*") if p.is_file())
    assert remote_files == sorted(p.relative_to(local_dir) for p in local_dir.rglob("*") if p.is_file())
    assert all((remote_dir / p).read_bytes() == (local_dir / p).read_bytes() for p in remote_files)

    again = run_remote(client, queue, TINY_MARKET, str(remote_dir))  # a redelivered task is harmless
    assert again["batches_written"] == 0 and again["batches_unchanged"] == 3


def test_a_failing_stage_reports_its_error_to_the_caller(client, queue, tmp_path):
    from recaug.errors import ConfigError

    bad = {"data": {"synth": {"n_users": 0}}}
    with pytest.raises(ConfigError, match=r"data\.synth\.n_users[\s\S]*greater than or equal to 1"):
        run_remote(client, queue, bad, str(tmp_path / "never"))
    assert not (tmp_path / "never").exists()
