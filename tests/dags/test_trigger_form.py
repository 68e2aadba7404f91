"""The trigger form refuses what it may not change before any task runs (real Airflow,
dag.test() in a fresh interpreter with its own SQLite metadata database), and lets the
tuning knobs through to the tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recaug.orchestrate.airflow_env import airflow_env
from recaug.orchestrate.local_run import ensure_airflow_db

pytestmark = pytest.mark.slow  # each case parses the DAG and runs dag.test() in a fresh interpreter

ROOT = Path(__file__).resolve().parents[2]

# Runs the first task only (find_batches: it reads the Params into settings and lists the
# landing folder), so a refused run and an accepted one differ only by their conf.
TRIGGER_SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.exceptions import ParamValidationError
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags["recaug_nightly"].partial_subset(task_ids=["find_batches"], include_upstream=False)
try:
    run = dag.test(run_conf=json.loads(sys.argv[2]))
    outcome = {"state": str(run.state), "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}
except ParamValidationError as exc:
    outcome = {"refused": str(exc).splitlines()[0]}
from airflow.models import DagRun, TaskInstance
from airflow.utils.session import create_session
with create_session() as session:
    outcome["dag_runs"] = session.query(DagRun).filter(DagRun.dag_id == "recaug_nightly").count()
    outcome["task_instances"] = session.query(TaskInstance).filter(TaskInstance.dag_id == "recaug_nightly").count()
print(json.dumps(outcome))
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trigger_form")
    lake = tmp / "lake"
    (lake / "landing" / "2026-01-01").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECAUG_") or k.startswith("RECAUG_TEST_")}
    env.update(airflow_env(tmp / "airflow", ROOT))
    env.update({"RECAUG_PARAMS": str(tmp / "no-params.yaml"), "RECAUG_ALLOWED_LAKE_ROOTS": str(tmp)})
    ensure_airflow_db(env)
    return {"tmp": tmp, "lake": lake, "env": env}


def trigger(world, conf: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", TRIGGER_SCRIPT, str(ROOT / "dags" / "recaug_nightly.py"), json.dumps(conf)],
                         env=world["env"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("conf, param, named", [
    ({"overrides": {"augment.backend.base_url": "http://attacker.example/v1"}}, "overrides", "augment.backend.base_url"),
    ({"overrides": {"augment.backend.api_key_env": "AIRFLOW__API_AUTH__JWT_SECRET"}}, "overrides", "augment.backend.api_key_env"),
    ({"overrides": {"deploy.target.serving_venv": "/tmp/evil"}}, "overrides", "deploy.target.serving_venv"),
    ({"overrides": {"features.repo_path": "/etc"}}, "overrides", "features.repo_path"),
    ({"overrides": {"run_id": "../../outside"}}, "overrides", "run_id"),
    ({"overrides": {"train.seed": "3; rm -rf /"}}, "overrides", "3; rm -rf /"),
    ({"lake_root": "/etc/recaug"}, "lake_root", "/etc/recaug"),
    ({"lake_root": "var/../../outside"}, "lake_root", "var/../../outside"),
    ({"augment_backend": "openai"}, "augment_backend", "openai"),  # no endpoint configured by the operator
])
def test_a_forbidden_value_is_refused_before_any_task_runs(world, conf, param, named):
    outcome = trigger(world, {"lake_root": str(world["lake"]), **conf})
    assert "refused" in outcome, outcome
    assert outcome["refused"].startswith(f"Invalid input for param {param}:") and named in outcome["refused"], outcome
    assert outcome["dag_runs"] == 0 and outcome["task_instances"] == 0, outcome
    assert not (world["lake"] / "reports").exists(), "no task wrote into the lake"


def test_a_safe_override_goes_through_to_the_tasks(world):
    lake = world["tmp"] / "lake-ok"
    (lake / "landing" / "2026-01-01").mkdir(parents=True)
    conf = {"lake_root": str(lake), "epochs": 3,
            "overrides": {"train.seed": 5, "augment.interactions.max_users_per_run": 0, "embed.batch_size": 16}}
    outcome = trigger(world, conf)
    assert outcome.get("state") == "success", outcome
    assert outcome["tasks"] == {"find_batches": "success"}
    record = json.loads(next((lake / "reports").glob("*/tasks/find_batches.json")).read_text())
    assert record["result"] == ["2026-01-01"], "the task read the lake named by the form"
