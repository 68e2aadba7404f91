"""The nightly DAG end to end with dag.test() on a tiny synthetic marketplace:
every task including the Triton deploy and a gateway request; a rerun deploys nothing
new; a bad batch stops the run at validation and the previous model keeps serving."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from nightly_helpers import NIGHTLY_TASKS, gateway_recommendation, run_dag, states, synthesize_landing, tiny_conf

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nightly")
    lake = tmp / "lake"
    synthesize_landing(lake, tmp)
    yield {"tmp": tmp, "lake": lake, "home": tmp / "airflow"}
    _stop_services(tmp, lake)


def _settings(world):
    import os

    os.environ["RECAUG_PARAMS"] = str(world["tmp"] / "no-params.yaml")
    from recaug.settings import load_settings

    return load_settings({"lake_root": str(world["lake"])})


def _stop_services(tmp, lake):
    import os

    os.environ["RECAUG_PARAMS"] = str(tmp / "no-params.yaml")
    from recaug.deploy.server import LocalTritonServer
    from recaug.settings import load_settings

    LocalTritonServer.from_settings(load_settings({"lake_root": str(lake)})).stop()


def _live_version(world) -> int:
    from recaug.deploy.deploy import live_record

    record = live_record(_settings(world))
    assert record is not None, "nothing is serving"
    return record.version


def _triton_top_k(world) -> list[int]:
    """Ask the live Triton model directly for one history (the export contract)."""
    import numpy as np
    import tritonclient.http as httpclient
    from recaug.deploy.deploy import live_record

    record = live_record(_settings(world))
    url = record.target.split(":", 1)[1].removeprefix("http://")
    client = httpclient.InferenceServerClient(url)
    inputs = []
    for name, array in (("history", np.array([[0, 1, 2, 3]], dtype=np.int64)),
                        ("timestamps", np.array([[0, 1767225600, 1767229200, 1767232800]], dtype=np.int64)),
                        ("now", np.array([[1767240000]], dtype=np.int64))):  # Triton wire shape [B, 1]; the ONNX model takes [B]
        tensor = httpclient.InferInput(name, list(array.shape), "INT64")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    result = client.infer(record.model_name, inputs, outputs=[httpclient.InferRequestedOutput("top_ids")])
    return result.as_numpy("top_ids")[0].tolist()


@pytest.fixture(scope="module")
def first_run(world):
    return run_dag(world["home"], tiny_conf(world["lake"]), world["tmp"], "first")


def test_first_run_completes_every_task_and_deploys(world, first_run):
    assert first_run["state"] == "success", open(first_run["log"]).read()[-5000:]
    task_states = states(first_run)
    assert set(task_states) == NIGHTLY_TASKS
    assert task_states.pop("set_aside_derived") == "skipped"  # no full rebuild asked for
    assert all(state == "success" for state in task_states.values()), task_states
    assert sum(1 for t in first_run["tasks"] if t["task_id"] == "embed_shard") == 2

    lake = world["lake"]
    run_id = first_run["run_id"]
    assert sorted(p.name for p in (lake / "raw").iterdir() if p.is_dir()) == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
    assert all((lake / "raw" / f"{batch}.dvc").is_file() for batch in ("2026-01-01", "2026-01-04")), "batches are DVC-tracked"
    assert not any((lake / "landing").iterdir())
    assert (lake / "manifests" / f"{run_id}.json").exists()
    html = (lake / "reports" / run_id / "report.html").read_text()
    assert "data:image/png;base64," in html and "orchestration overhead" in html
    assert 0 < first_run["compute_seconds"] < first_run["wall_seconds"]

    deploy = json.loads((lake / "reports" / run_id / "tasks" / "deploy.json").read_text())["result"]
    assert deploy["outcome"] == "deployed"
    top = _triton_top_k(world)
    assert len(top) == _settings(world).export.top_k and all(i > 0 for i in top)
    assert not {1, 2, 3} & set(top), "history items are excluded"

    interactions = pd.read_parquet(lake / "curated" / "interactions.parquet")
    counts = interactions["user_id"].value_counts()
    user = counts[(counts >= 3) & (counts <= 20)].index[0]  # whole history fits in the served history
    answer = gateway_recommendation(world["lake"], world["tmp"], user, k=5)
    assert answer["user_id"] == user and answer["source"] == "model" and len(answer["items"]) == 5
    seen = set(interactions.loc[interactions["user_id"] == user, "item_id"])
    assert not seen & {item["item_id"] for item in answer["items"]}


def test_rerun_without_new_data_deploys_nothing_new(world, first_run):
    """On the default settings (the first run's embeddings now exist for the rerun's augment
    stage): the same augmented data, the same model reused, nothing new deployed."""
    lake = world["lake"]
    version = _live_version(world)
    derived = ("augment/item_enrichment.parquet", "augment/user_profiles.parquet", "augment/interactions.parquet",
               "embeddings/items.parquet")
    before = {name: hashlib.sha256((lake / name).read_bytes()).hexdigest() for name in derived}
    rerun = run_dag(world["home"], tiny_conf(lake), world["tmp"], "rerun")
    assert rerun["state"] == "success", open(rerun["log"]).read()[-5000:]
    after = {name: hashlib.sha256((lake / name).read_bytes()).hexdigest() for name in derived}
    assert after == before, "a rerun changed derived data"
    trained = [json.loads((lake / "reports" / run["run_id"] / "tasks" / "train.json").read_text())["result"]["artifact_dir"]
               for run in (first_run, rerun)]
    assert trained[0] == trained[1], "the rerun trained a new model instead of reusing the first one"
    task_states = states(rerun)
    # the reused model is already the live one: the gate proposes it, the deploy finds it serving
    assert task_states["approved_for_deploy"] == task_states["deploy"] == "success", task_states
    deploy = json.loads((world["lake"] / "reports" / rerun["run_id"] / "tasks" / "deploy.json").read_text())["result"]
    assert deploy["outcome"] == "unchanged"
    assert _live_version(world) == version


def test_bad_batch_stops_at_validation_and_previous_model_keeps_serving(world, first_run):
    lake = world["lake"]
    version = _live_version(world)
    bad = lake / "landing" / "2026-01-05"
    bad.mkdir(parents=True)
    bad_bytes = b"user_id,item_id,timestamp,rating\nu0001,nope-1,2026-01-05T10:00:00Z,4.0\nu0002,nope-2,yesterday-ish,42.0\n"
    (bad / "interactions.csv").write_bytes(bad_bytes)

    failed = run_dag(world["home"], tiny_conf(lake), world["tmp"], "bad")
    assert failed["state"] == "failed"
    task_states = states(failed)
    assert task_states["export_events"] == task_states["find_batches"] == "success"
    assert task_states["validate_ingest"] == "failed"
    downstream = NIGHTLY_TASKS - {"export_events", "find_batches", "validate_ingest"}
    assert all(task_states[t] == "upstream_failed" for t in downstream), task_states

    assert (lake / "quarantine" / "2026-01-05" / "interactions.csv").read_bytes() == bad_bytes
    assert not (lake / "raw" / "2026-01-05").exists()
    summary = (lake / "reports" / failed["run_id"] / "failure.md").read_text()
    assert "failed at `validate_ingest`" in summary
    assert "| interactions.csv | rating |" in summary and "42.0" in summary
    assert _live_version(world) == version
    assert len(_triton_top_k(world)) == _settings(world).export.top_k
