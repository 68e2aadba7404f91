"""A real Celery worker on the machine's RabbitMQ running a recaug stage.

The Airflow Celery provider is not in requirements/lock.txt (docs/PRODUCTION.md says
what installing it changes), so this checks the layer under it: a worker process
consuming from a RabbitMQ vhost with its own user (created here with a random password
and deleted afterwards: the broker's default user appears nowhere), running a stage
and handing its JSON summary back.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from production_services import unique_name

pytestmark = [pytest.mark.services, pytest.mark.slow]

RABBITMQ_ADDRESS_ENV = "RECAUG_TEST_RABBITMQ_ADDRESS"
HERE = Path(__file__).resolve().parent
CELERY = str(Path(sys.executable).with_name("celery"))
RESULT_TIMEOUT = 90
TINY_MARKET = {"data": {"synth": {"n_users": 20, "n_items": 40, "n_interactions": 300, "n_days": 3, "seed": 11}}}


def rabbitmqctl(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["rabbitmqctl", *args], input=stdin, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]} exited {result.returncode}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


@pytest.fixture(scope="module")
def broker_url():
    """amqp:// URL of a throwaway vhost and user on the local RabbitMQ."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not on PATH: cannot create a throwaway RabbitMQ user and vhost")
    try:
        rabbitmqctl("status")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"rabbitmqctl cannot manage the local RabbitMQ node: {exc}")
    address = os.environ.get(RABBITMQ_ADDRESS_ENV, "127.0.0.1:5672")
    user, vhost, password = unique_name("recaug_test"), unique_name("recaug_test"), secrets.token_urlsafe(24)
    rabbitmqctl("add_user", user, stdin=password)  # from stdin: the password never shows in `ps`
    try:
        rabbitmqctl("add_vhost", vhost)
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        yield f"amqp://{user}:{password}@{address}/{vhost}"
    finally:
        rabbitmqctl("delete_user", user)
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def queue(broker_url, tmp_path_factory):
    """A worker process consuming one queue; stopped (warm shutdown) afterwards."""
    name = unique_name("recaug_stages")
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
            [CELERY, "-A", "stage_worker", "worker", "--pool=solo", "-Q", name, "-n", f"{name}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"],
            cwd=HERE, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
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
