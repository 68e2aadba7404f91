"""Running `airflow standalone` through scripts/airflow.sh in tests: a free port, a
temporary AIRFLOW_HOME, a REST token."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import httpx

from nightly_helpers import ROOT, isolated_env

SCRIPT = str(ROOT / "scripts" / "airflow.sh")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def standalone_env(tmp: Path, port: int, **extra: str) -> dict[str, str]:
    return {**isolated_env(tmp), "AIRFLOW_HOME_DIR": str(tmp / "airflow"), "AIRFLOW_PORT": str(port), **extra}


def start(env: dict[str, str]) -> None:
    started = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stdout + started.stderr


def stop(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, text=True, timeout=300)


def token(home: Path, url: str) -> str:
    passwords = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
    user, password = next(iter(passwords.items()))
    response = httpx.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def wait_for_dag(url: str, dag_id: str, headers: dict[str, str], attempts: int = 60) -> None:
    """The DAG processor needs a few seconds to register a DAG file."""
    for _ in range(attempts):
        if httpx.get(f"{url}/api/v2/dags/{dag_id}", headers=headers, timeout=30).status_code == 200:
            return
        time.sleep(2)
    raise AssertionError(f"DAG {dag_id} never appeared in the API")
