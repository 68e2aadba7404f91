"""`scripts/airflow.sh stop` ends the tasks a real `airflow standalone` is running.

Airflow puts every task in a process group of its own, so a group kill of the standalone
misses it and the orphan keeps writing. The probe DAG's task writes into a lake file
continuously and starts a helper in a session of its own that ignores SIGTERM (as
stages start DVC or servers), plus a detached service with a scrubbed environment (as
a deploy task starts Triton). After stop: no process of the instance is left, nothing
writes any more, the task is named in stop's output, and the service still serves.
"""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

import httpx
import psutil
import pytest

import airflow_helpers

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DAG_ID = "recaug_stop_probe"

WRITER = textwrap.dedent(
    """
    import os, signal, sys, time
    if sys.argv[2] == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(sys.argv[1], "a") as fh:
        fh.write(f"{os.getpid()}\\n")
        while True:
            fh.write("x"); fh.flush(); time.sleep(0.1)
    """
)

PROBE_DAG = '''
import pendulum
from airflow.sdk import dag, task

LAKE = {lake!r}
WRITER = {writer!r}


@dag(dag_id={dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def probe():
    @task
    def write_forever():
        import os, subprocess, sys
        subprocess.Popen([sys.executable, "-c", WRITER, LAKE + "/helper.log", "ignore-term"], start_new_session=True)
        subprocess.Popen([sys.executable, "-c", WRITER, LAKE + "/service.log", "serve"], start_new_session=True,
                         env={{"PATH": os.environ["PATH"]}})
        sys.argv = ["writer", LAKE + "/task.log", "keep-term"]
        exec(WRITER)

    write_forever()


probe()
'''


def _pid(log: Path) -> int:
    return int(log.read_text().split("\n", 1)[0])


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _carrying(token: str) -> list[int]:
    pids = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("RECAUG_AIRFLOW_INSTANCE") == token:
                pids.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return pids


def _wait_writing(logs: list[Path], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(log.exists() and log.stat().st_size > 20 for log in logs):
            return
        time.sleep(1)
    raise AssertionError(f"the probe task never started writing: {[str(log) for log in logs if not log.exists()]}")


def test_stop_ends_running_tasks_and_their_helpers(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "probe.py").write_text(PROBE_DAG.format(lake=str(lake), writer=WRITER, dag_id=DAG_ID))
    port = airflow_helpers.free_port()
    env = airflow_helpers.standalone_env(tmp_path, port, AIRFLOW_DAGS_DIR=str(dags), AIRFLOW_STOP_GRACE="5")
    home, url = tmp_path / "airflow", f"http://127.0.0.1:{port}"
    service_pid = None
    try:
        airflow_helpers.start(env)
        token = (home / "standalone.instance").read_text().strip()
        headers = {"Authorization": f"Bearer {airflow_helpers.token(home, url)}"}
        airflow_helpers.wait_for_dag(url, DAG_ID, headers)
        response = httpx.post(f"{url}/api/v2/dags/{DAG_ID}/dagRuns", headers=headers, json={"logical_date": None}, timeout=30)
        assert response.status_code == 200, response.text
        logs = [lake / "task.log", lake / "helper.log", lake / "service.log"]
        _wait_writing(logs)
        task_pid, helper_pid, service_pid = (_pid(log) for log in logs)
        assert os.getpgid(task_pid) != int((home / "standalone.pgid").read_text())  # the case a group kill misses
        assert os.getsid(helper_pid) == helper_pid

        stopped = airflow_helpers.stop(env)

        output = stopped.stdout + stopped.stderr
        assert stopped.returncode == 0, output
        assert f"ending task {DAG_ID}.write_forever (run manual__" in output, output
        assert "still running 5 s after SIGTERM: killed" in output, output
        assert f"left running: pid {service_pid}" in output, output
        assert "airflow stopped" in output
        assert not _alive(task_pid) and not _alive(helper_pid)
        assert _carrying(token) == []
        sizes = {log.name: log.stat().st_size for log in logs[:2]}
        time.sleep(2)
        assert {log.name: log.stat().st_size for log in logs[:2]} == sizes  # nothing writes into the lake any more
        assert _alive(service_pid)  # a detached service keeps serving
        status = airflow_helpers.stop(env)
        assert "airflow is not running" in status.stdout, status.stdout
    finally:
        airflow_helpers.stop(env)
        if service_pid and _alive(service_pid):
            os.kill(service_pid, signal.SIGKILL)
