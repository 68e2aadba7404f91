"""A manual run triggered through Airflow's REST API v2 against `airflow standalone`
(started by scripts/airflow.sh on a free port, AIRFLOW_HOME in tmp): the trigger-form
conf reaches the stages, deploy=false skips the deploy; a conf outside the trigger form's
allow-list is refused at trigger time and no run exists."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

import airflow_helpers
from nightly_helpers import synthesize_landing, tiny_conf

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("standalone")
    port = airflow_helpers.free_port()
    env = airflow_helpers.standalone_env(tmp, port)
    try:
        airflow_helpers.start(env)
        yield {"tmp": tmp, "url": f"http://127.0.0.1:{port}", "home": tmp / "airflow"}
    finally:
        airflow_helpers.stop(env)


@pytest.mark.parametrize("conf, named", [
    ({"overrides": {"augment.backend.api_key_env": "AIRFLOW__API_AUTH__JWT_SECRET"}}, "augment.backend.api_key_env"),
    ({"lake_root": "/etc/recaug"}, "lake_root"),
])
def test_a_forbidden_conf_is_refused_at_trigger_time(standalone, conf, named):
    headers = {"Authorization": f"Bearer {airflow_helpers.token(standalone['home'], standalone['url'])}"}
    api = f"{standalone['url']}/api/v2/dags/recaug_nightly"
    airflow_helpers.wait_for_dag(standalone["url"], "recaug_nightly", headers)
    response = httpx.post(f"{api}/dagRuns", headers=headers, json={"logical_date": None, "conf": conf}, timeout=30)
    assert response.status_code == 400, response.text
    assert named in response.text
    runs = httpx.get(f"{api}/dagRuns", headers=headers, timeout=30).json()["dag_runs"]
    assert not any(run["conf"] == conf for run in runs), "no run was created"


def test_trigger_with_conf_through_rest_api(standalone):
    tmp = standalone["tmp"]
    lake = tmp / "lake"
    synthesize_landing(lake, tmp, n_days=2, n_interactions=1200)
    headers = {"Authorization": f"Bearer {airflow_helpers.token(standalone['home'], standalone['url'])}"}
    api = f"{standalone['url']}/api/v2/dags/recaug_nightly"
    airflow_helpers.wait_for_dag(standalone["url"], "recaug_nightly", headers)
    conf = tiny_conf(lake, hidden_size=24, deploy=False, embed_shards=1)
    response = httpx.post(f"{api}/dagRuns", headers=headers, json={"logical_date": None, "conf": conf}, timeout=30)
    assert response.status_code == 200, response.text
    run_id = response.json()["dag_run_id"]

    state = None
    deadline = time.monotonic() + 1500
    while time.monotonic() < deadline:
        state = httpx.get(f"{api}/dagRuns/{run_id}", headers=headers, timeout=30).json()["state"]
        if state in ("success", "failed"):
            break
        time.sleep(5)
    tasks = httpx.get(f"{api}/dagRuns/{run_id}/taskInstances", headers=headers, timeout=30).json()["task_instances"]
    by_id = {t["task_id"]: t["state"] for t in tasks}
    assert state == "success", by_id
    assert by_id["approved_for_deploy"] == "success" and by_id["deploy"] == "skipped"
    assert by_id["report"] == "success"

    from recaug.orchestrate.runs import safe_run_id

    artifact = json.loads((lake / "reports" / safe_run_id(run_id) / "tasks" / "train.json").read_text())["result"]["artifact_dir"]
    params = json.loads((Path(artifact) / "params.json").read_text())
    assert params["model"]["hidden_size"] == 24, params
    assert not (lake / "deploy" / "records").exists() or not os.listdir(lake / "deploy" / "records")
