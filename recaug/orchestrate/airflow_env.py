"""The environment Airflow needs to run recaug's DAGs on one machine.

Used by scripts/airflow.sh, the demo and the tests so they all agree: AIRFLOW_HOME
under var/ (or a temp dir), this checkout's dags/ and plugins/, no examples, loopback
only, a small worker pool, and a long random JWT secret kept next to the database
(never in the repository).

    python -m recaug.orchestrate.airflow_env --home var/airflow --port 8793   # prints exports
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
from pathlib import Path

JWT_SECRET_FILE = "jwt_secret"


def jwt_secret(home: Path) -> str:
    """The API's JWT signing secret, generated on first use and kept in AIRFLOW_HOME (0600)."""
    path = home / JWT_SECRET_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(64))
    return path.read_text().strip()


def airflow_env(home: str | os.PathLike, project_root: str | os.PathLike, port: int | None = None) -> dict[str, str]:
    """Environment variables for `airflow` commands, dag.test() and `airflow standalone`."""
    home = Path(home).resolve()
    root = Path(project_root).resolve()
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret(home),
        "RECAUG_PROJECT_ROOT": str(root),
        "GX_ANALYTICS_ENABLED": "false",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    if port is not None:
        env.update({
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        })
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="AIRFLOW_HOME")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2]), help="recaug checkout")
    parser.add_argument("--port", type=int, help="API server port (standalone only)")
    args = parser.parse_args(argv)
    for key, value in airflow_env(args.home, args.root, args.port).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
