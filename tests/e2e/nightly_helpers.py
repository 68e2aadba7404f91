"""Shared set-up of the end-to-end tests: a tiny synthetic lake and DAG runs in a
subprocess (Airflow reads its configuration once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

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
