"""End every process one `scripts/airflow.sh start` started, task processes included.

Airflow runs each task in a process group of its own, so killing the standalone's group
misses them, and once their supervisor is gone they are re-parented and keep writing
into the lake. They are found, before any signal is sent, as the processes carrying the
instance token airflow.sh put in their environment (which survives re-parenting and
new sessions), plus every descendant of those (a stage may start a server with a
scrubbed environment). Everything found gets SIGTERM, then SIGKILL after a grace period;
the search repeats until nothing is left, and each ended task is named. A service a task
detached on purpose (own session, environment without the token: the Triton server a
deploy task launches) is left serving and named.

The metadata database (which tasks and runs were still going) is the one the instance's
processes were started with: PostgreSQL in the celery profile, else SQLite in the home.

Once every process is gone, the lake lease each unfinished run held (recaug/lake_lock.py)
is released and named, so the next writer need not wait lock.lease_timeout_minutes. A
run's lake is its conf's lake_root, else the operator's (params.yaml of the checkout and
RECAUG_* of this environment, as tasks read it); only a lease whose key is that run's is
released, and, as with `recaug lake unlock`, never while a process holding the lock lives.

    python scripts/airflow_stop.py --home var/airflow --token TOKEN [--leader PGID] [--grace 30]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
from pathlib import Path

import psutil

TOKEN_VARIABLE = "RECAUG_AIRFLOW_INSTANCE"
DATABASE_VARIABLE = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
TASK_DATABASE_BLOCK = "airflow-db-not-allowed:"  # what Airflow puts there in task processes
TASK_TITLE = re.compile(r"airflow worker -- ([0-9a-f-]{32,36})")
ROUNDS = 5


def carries_token(process: psutil.Process, token: str | None) -> bool:
    """True when the process was started (directly or not) by this Airflow instance."""
    if not token:
        return False
    try:
        return process.environ().get(TOKEN_VARIABLE) == token
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def instance_processes(token: str | None, leader: int | None) -> tuple[dict[int, psutil.Process], list[psutil.Process]]:
    """(processes to end, detached services left running).

    To end: every process carrying the token and all its descendants, whatever their
    session. Left running: a descendant that leads a session of its own and was given an
    environment without the token, i.e. a service a task started on purpose to outlive
    it (the Triton server a deploy task launches); stopping the UI must not stop serving.
    This script and its ancestors are never included.
    """
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    roots = [p for p in psutil.process_iter() if token and carries_token(p, token)]
    if leader and not roots:  # an instance started before airflow.sh set the token
        roots = [p for p in psutil.process_iter() if _in_group(p, leader) and _is_airflow(p)]
    found: dict[int, psutil.Process] = {}
    services: dict[int, psutil.Process] = {}
    pending = list(roots)
    while pending:
        process = pending.pop()
        if process.pid in found or process.pid in services or process.pid in spared:
            continue
        if process not in roots and _detached_service(process, token):
            services[process.pid] = process
            continue
        found[process.pid] = process
        try:
            pending += process.children()
        except psutil.NoSuchProcess:
            pass
    return found, list(services.values())


def _detached_service(process: psutil.Process, token: str | None) -> bool:
    try:
        return os.getsid(process.pid) == process.pid and not carries_token(process, token)
    except OSError:
        return False


def _in_group(process: psutil.Process, pgid: int) -> bool:
    try:
        return os.getpgid(process.pid) == pgid
    except OSError:
        return False


def _is_airflow(process: psutil.Process) -> bool:
    try:
        return "airflow" in " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def metadata_database(processes) -> str | None:
    """The metadata database URL the instance's processes run with; None: the home's SQLite."""
    for process in processes:
        try:
            url = process.environ().get(DATABASE_VARIABLE)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if url and not url.startswith(TASK_DATABASE_BLOCK):
            return url
    return None


def metadata_rows(home: Path, database: str | None, query: str) -> list[tuple]:
    """Rows of a read-only query on the instance's metadata database; none when it does not
    exist or cannot be read (stopping must not depend on it)."""
    if database and not database.startswith("sqlite"):
        return _server_rows(database, query)
    path = home / "airflow.db"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute(query).fetchall()
    except sqlite3.Error:
        return []


def _server_rows(database: str, query: str) -> list[tuple]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        engine = create_engine(database, connect_args={"connect_timeout": 5})
    except (SQLAlchemyError, ImportError, ValueError):
        return []
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()


def running_tasks(home: Path, database: str | None) -> dict[str, str]:
    """Task instance id (hex, no dashes) -> 'dag.task run=... ' from the metadata database."""
    rows = metadata_rows(home, database, "SELECT id, dag_id, task_id, run_id, map_index FROM task_instance "
                               "WHERE state IN ('running', 'queued', 'restarting')")
    labels = {}
    for ti_id, dag_id, task_id, run_id, map_index in rows:
        shard = f"[{map_index}]" if map_index is not None and map_index >= 0 else ""
        labels[str(ti_id).replace("-", "")] = f"{dag_id}.{task_id}{shard} (run {run_id})"
    return labels


def unfinished_runs(home: Path, database: str | None) -> dict[str, dict]:
    """Run id -> conf of the runs the metadata database still calls queued or running."""
    rows = metadata_rows(home, database, "SELECT run_id, conf FROM dag_run WHERE state IN ('running', 'queued')")
    return {run_id: (json.loads(conf) if isinstance(conf, (str, bytes)) else conf) or {} for run_id, conf in rows}


def release_leases(runs: dict[str, dict]) -> list[str]:
    """Release the lake lease of each run in `runs` (run id -> conf); returns what was done,
    in words. Called once the runs' processes are gone."""
    from recaug.errors import RecaugError
    from recaug.lake_lock import HOLDER_FILE, LakeBusy, LakeLock, airflow_claim
    from recaug.orchestrate.runs import safe_run_id
    from recaug.settings import load_settings

    os.environ.setdefault("RECAUG_PARAMS", str(Path(__file__).resolve().parents[1] / "params.yaml"))
    done = []
    for run_id, conf in runs.items():
        try:
            settings = load_settings({"lake_root": conf["lake_root"]} if conf.get("lake_root") else {})
        except (RecaugError, ValueError, OSError) as exc:
            done.append(f"could not tell the lake of run {run_id} ({exc}); its lease, if any, expires by itself")
            continue
        if not settings.lake.is_local or not settings.lake.local("state", HOLDER_FILE).exists():
            continue  # no lease there (and no lock files are created in a lake that has none)
        try:
            holder = LakeLock(settings.lake, settings.lock).unlock(only_key=airflow_claim(safe_run_id(run_id), "").key)
        except LakeBusy as exc:
            done.append(f"kept the lake lease of run {run_id}: {exc}")
            continue
        if holder is not None:
            done.append(f"released the lake lease of {holder.describe()} on {settings.lake.root}")
    return done


def describe(process: psutil.Process, tasks: dict[str, str]) -> str:
    """Words for the stop log: which task a process runs, or what the process is."""
    try:
        command = " ".join(" ".join(process.cmdline()).split()) or process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return f"pid {process.pid}"
    title = TASK_TITLE.search(command)
    if title:
        ti_id = title.group(1).replace("-", "")
        return f"task {tasks.get(ti_id, 'instance ' + title.group(1))} pid {process.pid}"
    return f"pid {process.pid} ({command[:100]})"


def end(processes: dict[int, psutil.Process], grace: float) -> list[psutil.Process]:
    """SIGTERM all, wait up to `grace` seconds, SIGKILL the rest; returns those killed hard."""
    for process in processes.values():
        try:
            process.send_signal(signal.SIGTERM)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    _, alive = psutil.wait_procs(list(processes.values()), timeout=grace)
    for process in alive:
        try:
            process.send_signal(signal.SIGKILL)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    psutil.wait_procs(alive, timeout=10)
    return alive


def stop(home: Path, token: str | None, leader: int | None, grace: float) -> int:
    """Stop the instance; returns the number of processes that could not be ended."""
    database = metadata_database(instance_processes(token, leader)[0].values())
    tasks = running_tasks(home, database)
    runs = unfinished_runs(home, database)
    ended_any = False
    services: dict[int, psutil.Process] = {}
    for _ in range(ROUNDS):
        processes, detached = instance_processes(token, leader)
        services.update((p.pid, p) for p in detached)
        if not processes:
            break
        ended_any = True
        words = {pid: describe(p, tasks) for pid, p in processes.items()}
        for pid in sorted(words):
            if words[pid].startswith("task "):
                print(f"ending {words[pid]}")
        others = [w for w in words.values() if not w.startswith("task ")]
        print(f"ending {len(others)} other airflow process(es)")
        for process in end(processes, grace):
            print(f"  {words.get(process.pid, process.pid)} still running {grace:.0f} s after SIGTERM: killed")
    for process in services.values():
        if process.is_running():
            print(f"left running: {describe(process, tasks)}, a service a task started to outlive it")
    left, _ = instance_processes(token, leader)
    for process in left.values():
        print(f"still running after {ROUNDS} rounds: {describe(process, tasks)}")
    if not left:
        for line in release_leases(runs):
            print(line)
    print("airflow stopped" if ended_any and not left else "airflow is not running" if not ended_any else "airflow not fully stopped")
    return len(left)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="AIRFLOW_HOME of the instance")
    parser.add_argument("--token", help=f"the instance's {TOKEN_VARIABLE} value")
    parser.add_argument("--leader", type=int, help="pgid of a standalone started without a token (older airflow.sh)")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds between SIGTERM and SIGKILL")
    args = parser.parse_args(argv)
    return 1 if stop(Path(args.home), args.token, args.leader, args.grace) else 0


if __name__ == "__main__":
    raise SystemExit(main())
