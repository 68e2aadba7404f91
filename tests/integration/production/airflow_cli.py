"""Real `airflow` commands and services in subprocesses, on the machine's PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recaug.orchestrate.airflow_env import airflow_env

PROJECT_ROOT = Path(__file__).resolve().parents[3]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
COMMAND_TIMEOUT = 240


def query(database_url: str, sql: str, *params) -> list[tuple]:
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql")
    with psycopg2.connect(url.render_as_string(hide_password=False)) as connection, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class AirflowCli:
    """`airflow` in a subprocess with its own AIRFLOW_HOME and the Postgres metadata DB."""

    def __init__(self, home: Path, database_url: str, port: int | None = None, **settings: str):
        self.home = home
        self.database_url = database_url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RECAUG_"))}
        self.env.update(airflow_env(home, PROJECT_ROOT, port))
        self.env.update({
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "RECAUG_PARAMS": str(home / "no-params.yaml"),
            **settings,
        })

    def __call__(self, *args: str, **env: str) -> str:
        result = subprocess.run(
            [AIRFLOW, *args], env={**self.env, **env}, capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0:
            pytest.fail(f"`airflow {' '.join(args)}` exited {result.returncode}:\n{output[-4000:]}")
        return output

    def start(self, *args: str) -> "AirflowService":
        """A long-running `airflow <args>` (scheduler, worker...) in its own process group."""
        log = self.home / f"{'_'.join(args[:2])}.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [AIRFLOW, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        return AirflowService(" ".join(args), process, log)


class AirflowService:
    def __init__(self, name: str, process: subprocess.Popen, log: Path):
        self.name, self.process, self.log = name, process, log

    def check_running(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"`airflow {self.name}` exited {self.process.returncode}:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """SIGTERM to the whole group (Airflow's children too); what is left after 30 s is killed."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
