"""Shared set-up of the end-to-end tests: a tiny synthetic lake and DAG runs in a
subprocess (Airflow reads its configuration once per process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Every task of recaug_nightly (embed_shard once however many shards it maps).
NIGHTLY_TASKS = {
    "export_events", "find_batches", "validate_ingest", "version_data", "full_rebuild_requested", "set_aside_derived", "augment", "plan_shards", "embed_shard", "merge_embeddings",
    "build_features", "apply_feature_definitions", "materialize", "train", "evaluate", "gate", "export", "approved_for_deploy", "deploy", "report",
}

# Small enough for two shared cores, big enough for every stage to have real work.
TINY_SYNTH = {"n_users": 60, "n_items": 150, "n_interactions": 2500, "n_days": 4, "seed": 11}


def tiny_conf(lake: Path, **params) -> dict:
    conf = {
        "lake_root": str(lake), "epochs": 2, "hidden_size": 16, "num_layers": 1,
        "augment_backend": "template", "augment_budget": 8, "embed_shards": 2, "deploy": True,
        "overrides": {"train.seed": 3},
    }
    conf.update(params)
    return conf


def isolated_env(tmp: Path) -> dict[str, str]:
    """No params.yaml from the checkout, no RECAUG_* from the caller, few threads; lakes in
    `tmp` are allowed as the trigger form's lake_root (docs/OVERRIDES.md)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECAUG_") or k.startswith("RECAUG_TEST_")}
    env.update({"RECAUG_PARAMS": str(tmp / "no-params.yaml"), "RECAUG_ALLOWED_LAKE_ROOTS": str(tmp),
                "OMP_NUM_THREADS": "2", "PYTHONUNBUFFERED": "1"})
    return env


def synthesize_landing(lake: Path, tmp: Path, **synth) -> None:
    env = isolated_env(tmp)
    sets = [f"--set=data.synth.{k}={v}" for k, v in {**TINY_SYNTH, **synth}.items()]
    subprocess.run([sys.executable, "-m", "recaug.cli", "data", "synth", "--out", str(lake / "landing"), "--lake", str(lake), *sets],
                   env=env, check=True, cwd=ROOT, capture_output=True, timeout=300)


def run_dag(home: Path, conf: dict, tmp: Path, name: str) -> dict:
    """Run recaug_nightly once with dag.test(); return the run summary (see local_run)."""
    out = tmp / f"{name}.json"
    log = tmp / f"{name}.log"
    with log.open("w") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "recaug.orchestrate.local_run", "--home", str(home), "--conf", json.dumps(conf), "--json-out", str(out),
             "--retries", "0"],  # a broken task fails the run at once instead of after retry delays
            env=isolated_env(tmp), cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, timeout=1500,
        )
    if not out.exists():
        raise AssertionError(f"DAG run {name} crashed (exit {proc.returncode}); log tail:\n" + log.read_text()[-5000:])
    summary = json.loads(out.read_text())
    summary["log"] = str(log)
    return summary


def states(summary: dict) -> dict[str, str]:
    """task_id -> state (mapped tasks: the set of shard states joined)."""
    result: dict[str, set[str]] = {}
    for task in summary["tasks"]:
        result.setdefault(task["task_id"], set()).add(task["state"])
    return {task: ",".join(sorted(s)) for task, s in result.items()}


def gateway_recommendation(lake: Path, tmp: Path, user_id: str, k: int = 5, **env: str) -> dict:
    """Start `recaug serve gateway` on a free port (with `env` on top of the isolated one),
    ask it once, stop it; a gateway that never gets ready fails with its log."""
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp / f"gateway-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "recaug.cli", "serve", "gateway", "--port", str(port), "--lake", str(lake)],
            env={**isolated_env(tmp), **env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        for _ in range(120):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise AssertionError(f"the gateway exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        response = httpx.get(f"http://127.0.0.1:{port}/recommend", params={"user_id": user_id, "k": k}, timeout=30)
        assert response.status_code == 200, f"{response.status_code} {response.text}\n{log.read_text()[-3000:]}"
        return response.json()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the whole group goes
        proc.wait(timeout=30)
