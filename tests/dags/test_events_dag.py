"""The nightly DAG exports the logged feedback events before it looks for batches, so they are
validated and ingested like any landing batch (real Airflow, dag.test() in a fresh
interpreter with its own SQLite metadata database; the tasks up to validate_ingest)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from recaug.orchestrate.airflow_env import airflow_env
from recaug.orchestrate.local_run import ensure_airflow_db

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags["recaug_nightly"].partial_subset(task_ids=["validate_ingest"], include_upstream=True)
run = dag.test(run_conf=json.loads(sys.argv[2]))
print(json.dumps({"state": str(run.state), "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}))
"""


def test_the_nightly_ingests_the_logged_events_as_a_batch(tmp_path):
    from recaug.data.landing import write_batch
    from recaug.events.log import EventLog
    from recaug.settings import load_settings

    lake = tmp_path / "lake"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECAUG_") or k.startswith("RECAUG_TEST_")}
    env.update(airflow_env(tmp_path / "airflow", ROOT))
    env.update({"RECAUG_PARAMS": str(tmp_path / "no-params.yaml"), "RECAUG_ALLOWED_LAKE_ROOTS": str(tmp_path)})
    ensure_airflow_db(env)
    settings = load_settings({"lake_root": str(lake)})
    items = pd.DataFrame({"item_id": ["i1", "i2"], "title": ["One", "Two"]})
    first = pd.DataFrame({"user_id": ["u1"], "item_id": ["i1"], "timestamp": pd.to_datetime(["2026-01-01"], utc=True)})
    write_batch(settings.lake.url("landing"), "2026-01-01", {"items": items, "interactions": first})
    with EventLog(settings) as event_log:
        event_log.append([{"event_id": "e1", "user_id": "u1", "item_id": "i2", "event_type": "purchase",
                           "timestamp": datetime.now(timezone.utc).isoformat()}])

    out = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "dags" / "recaug_nightly.py"),
                          json.dumps({"lake_root": str(lake)})], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    outcome = json.loads(out.stdout.strip().splitlines()[-1])
    assert outcome["tasks"] == {"export_events": "success", "find_batches": "success", "validate_ingest": "success"}, outcome

    [exported] = [p.name for p in (lake / "raw").iterdir() if p.name.startswith("events-")]
    assert sorted(p.name for p in (lake / "raw").iterdir()) == ["2026-01-01", exported]
    curated = pd.read_parquet(lake / "curated" / "interactions.parquet")
    assert curated[["user_id", "item_id", "event_type"]].values.tolist()[-1] == ["u1", "i2", "purchase"]
    assert not any((lake / "landing").iterdir())
    assert [p.name for p in (lake / "events" / "exported").iterdir()] == [exported]
