"""The nightly DAG parses cleanly, fast, and is wired the way the pipeline needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recaug.orchestrate.airflow_env import airflow_env

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "recaug_nightly.py"
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers", "feast", "great_expectations", "dvc", "onnxruntime", "tritonclient")

PARSE_SCRIPT = """
import json, sys, time
start = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
heavy = [m for m in sys.argv[2].split(",") if m in sys.modules]
dag = bag.dags.get("recaug_nightly")
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "heavy": heavy,
    "seconds": time.perf_counter() - start,
    "tasks": sorted(dag.task_dict) if dag else [],
    "queues": {t.task_id: t.queue for t in dag.tasks} if dag else {},
}))
"""


def parse_in_subprocess(home: Path, **env: str) -> dict:
    """Parse the DAG folder in a fresh interpreter, as the DAG processor does."""
    out = subprocess.run(
        [sys.executable, "-c", PARSE_SCRIPT, str(DAG_FILE.parent), ",".join(HEAVY_MODULES)],
        env={**os.environ, **airflow_env(home, ROOT), **env}, capture_output=True, text=True, timeout=300, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    return parse_in_subprocess(tmp_path_factory.mktemp("airflow_home"))


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    """The DAG parsed in this process. The Airflow environment, the plugins path and whatever
    parsing and these tests add to the environment (RECAUG_PARAMS, progress-bar switches) hold
    for this module only: the environment is restored as it was, so later tests see the user's."""
    home = tmp_path_factory.mktemp("airflow_home_inproc")
    saved_environment = dict(os.environ)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in airflow_env(home, ROOT).items():
                patch.setenv(name, value)
            patch.syspath_prepend(str(ROOT / "plugins"))
            from airflow.dag_processing.dagbag import DagBag

            bag = DagBag(dag_folder=str(DAG_FILE))
            assert not bag.import_errors, bag.import_errors
            yield bag.dags["recaug_nightly"]
    finally:
        for name in set(os.environ) - set(saved_environment):
            del os.environ[name]
        os.environ.update(saved_environment)


def test_parses_without_errors_or_heavy_imports(parsed):
    assert parsed["errors"] == {}
    assert parsed["heavy"] == [], f"heavy modules imported at parse time: {parsed['heavy']}"
    assert "validate_ingest" in parsed["tasks"]


def test_schedule_catchup_tags_and_docs(dag):
    from airflow.sdk import CronTriggerTimetable

    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert {"recaug", "nightly"} <= set(dag.tags)
    assert dag.doc_md and "quarantine" in dag.doc_md


def test_every_task_retries_with_backoff_except_validation(dag):
    for task in dag.tasks:
        if task.task_id == "validate_ingest":
            assert task.retries == 0, "bad data does not improve by retrying"
            continue
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.on_failure_callback, task.task_id


def test_every_param_is_typed_and_described(dag):
    params = dag.params
    expected = {"lake_root", "augment_backend", "augment_budget", "hidden_size", "epochs", "force_full_rebuild", "deploy", "embed_shards"}
    assert expected <= set(params.keys())
    for name in params.keys():
        param = params.get_param(name)
        assert param.description, f"Param {name} has no description"
        assert "type" in param.schema, f"Param {name} has no type"
    params.validate()  # the defaults satisfy their own schemas


def test_pipeline_order(dag):
    """validation gates everything; deploy waits for the gate, the export and Feast."""
    order = [
        "export_events", "find_batches", "validate_ingest", "version_data", "full_rebuild_requested", "set_aside_derived", "augment", "plan_shards", "embed_shard",
        "merge_embeddings", "build_features", "train", "evaluate", "gate", "export",
        "approved_for_deploy", "deploy", "report",
    ]
    for upstream, downstream in zip(order, order[1:]):
        assert downstream in dag.task_dict[upstream].get_flat_relative_ids(upstream=False), (upstream, downstream)
    assert "materialize" in dag.task_dict["deploy"].upstream_task_ids
    assert "apply_feature_definitions" in dag.task_dict["materialize"].upstream_task_ids
    assert dag.task_dict["report"].trigger_rule == "none_failed"
    assert dag.task_dict["augment"].trigger_rule == "none_failed", "runs when no rebuild was asked for"
    descendants = dag.task_dict["validate_ingest"].get_flat_relative_ids(upstream=False)
    assert descendants == set(dag.task_dict) - {"export_events", "find_batches", "validate_ingest"}


def test_gpu_work_runs_in_the_gpu_pool_and_embedding_fans_out(dag):
    assert dag.task_dict["augment"].pool == "gpu"
    embed = dag.task_dict["embed_shard"]
    assert embed.pool == "gpu"
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(embed, MappedOperator)
    assert "shard" in embed.op_kwargs_expand_input.value


def test_gpu_tasks_go_to_the_configured_queue_and_only_then(parsed, tmp_path):
    from airflow.configuration import conf

    default = conf.get("operators", "default_queue")
    assert set(parsed["queues"].values()) == {default}, "without RECAUG_AIRFLOW_GPU_QUEUE nothing changes"
    routed = parse_in_subprocess(tmp_path, RECAUG_AIRFLOW_GPU_QUEUE="gpu")["queues"]
    assert {task for task, queue in routed.items() if queue == "gpu"} == {"augment", "embed_shard"}
    assert {queue for task, queue in routed.items() if task not in ("augment", "embed_shard")} == {default}


def test_no_cycles(dag):
    seen: dict[str, int] = {}

    def visit(task_id: str, stack: tuple[str, ...]) -> None:
        assert task_id not in stack, f"cycle: {' -> '.join(stack + (task_id,))}"
        for child in dag.task_dict[task_id].downstream_task_ids:
            visit(child, stack + (task_id,))
        seen[task_id] = 1

    for root in dag.roots:
        visit(root.task_id, ())
    assert set(seen) == set(dag.task_dict)
