"""
### recaug nightly: validate → version → augment/embed → features → train → gate → deploy

Runs every night on the batches that arrived in `<lake_root>/landing`, and by hand from
the trigger form (same code path; the form's Params become settings overrides).

1. **export_events** turns the feedback events the gateway logged (POST /events) into a
   landing batch (`events-<time>`), exactly once; **find_batches** lists landing batches
   not yet accepted (`raw/`) or rejected (`quarantine/`).
2. **validate_ingest** checks them with Great Expectations. A bad batch is moved to
   quarantine with its report, the task fails without retries, nothing downstream runs
   and the serving model stays; `reports/<run>/failure.md` explains what happened.
3. **version_data** records raw + curated data in DVC. With `force_full_rebuild`,
   **set_aside_derived** first moves derived data and caches to `state/rebuild-<run>/`.
4. **augment** (pool `gpu`): LLM item enrichment, user profiles, synthetic interactions.
5. **embed_shard** (pool `gpu`, one mapped task per shard) then **merge_embeddings**.
   With `RECAUG_AIRFLOW_GPU_QUEUE` set when the DAG is parsed (the celery profile of
   `scripts/airflow.sh` sets `gpu`), both also go to that executor queue, i.e. to the
   workers that listen to it; unset, they stay on the default queue.
6. **build_features** → **apply_feature_definitions** (only when they changed) →
   **materialize** (Feast online store, incremental) and **train** →
   **evaluate** → **gate** (proposes the model if not worse than the live one) → **export** (ONNX + parity).
7. **approved_for_deploy** skips **deploy** when the gate says no or `deploy` is off.
   Only a successful deploy promotes: its record is what is live, so a skipped or failed
   deploy leaves the previous model live and the next gate compares against it.
8. **report** writes `reports/<run>/report.html` and `report.md`.

Every stage caches by content, so clearing a failed task resumes from it, and
rerunning a finished run recomputes and deploys nothing new. A new run on unchanged
inputs reuses the model already trained on them (same data versions and parameters),
so it deploys nothing new either. The `gpu` pool must
exist (`airflow pools set gpu 1 "augmentation and embedding"`; `scripts/airflow.sh`
creates it).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, get_current_context, task

from recaug.orchestrate.celery_profile import GPU_QUEUE_ENV
from recaug_airflow.dvc_versioning import DvcVersionOperator
from recaug_airflow.failure_summary import write_failure_summary
from recaug_airflow.feast_materialize import FeastApplyOperator, FeastMaterializeOperator
from recaug_airflow.gx_validation import GXValidateIngestOperator
from recaug_airflow.nightly_params import build_params
from recaug_airflow.triton_deploy import TritonDeployOperator
from recaug_airflow.stage_runner import run_stage

GPU_POOL = "gpu"


def gpu_task_args() -> dict:
    """Pool, and queue when one is configured, of the augmentation and embedding tasks: the
    pool bounds how many run at once, the queue picks the machines that run them."""
    queue = os.environ.get(GPU_QUEUE_ENV)
    return {"pool": GPU_POOL, **({"queue": queue} if queue else {})}


DEFAULT_ARGS = {
    "owner": "recaug",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=3),
    "on_failure_callback": write_failure_summary,
}


@dag(
    dag_id="recaug_nightly",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=build_params(),
    tags=["recaug", "nightly", "ml"],
    doc_md=__doc__,
)
def recaug_nightly():
    @task
    def export_events() -> dict:
        from recaug.events.export import export_events as export

        return run_stage(get_current_context(), export)

    @task
    def find_batches() -> list[str]:
        from recaug.orchestrate.batches import pending_batches

        return run_stage(get_current_context(), lambda settings: pending_batches(settings.lake))

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def full_rebuild_requested() -> bool:
        return bool(get_current_context()["params"]["force_full_rebuild"])

    @task
    def set_aside_derived() -> dict:
        from recaug.orchestrate.rebuild import set_aside_derived as set_aside

        return run_stage(get_current_context(), lambda settings: set_aside(settings.lake, settings.run_id))

    @task(**gpu_task_args(), trigger_rule="none_failed")
    def augment() -> dict:
        from recaug.augment.pipeline import run_augmentation

        return run_stage(get_current_context(), run_augmentation)

    @task
    def plan_shards() -> list[int]:
        return list(range(int(get_current_context()["params"]["embed_shards"])))

    @task(**gpu_task_args(), map_index_template="shard {{ task.op_kwargs['shard'] }}")
    def embed_shard(shard: int) -> dict:
        from recaug.embed.job import run_embedding

        context = get_current_context()
        num_shards = int(context["params"]["embed_shards"])
        return run_stage(context, lambda settings: run_embedding(settings, shard, num_shards))

    @task
    def merge_embeddings(shard_results: list[dict]) -> dict:
        from recaug.embed.job import merge_shards

        context = get_current_context()
        return run_stage(context, lambda settings: merge_shards(settings, int(context["params"]["embed_shards"])))

    @task
    def build_features() -> dict:
        from recaug.features.build import build_features as build

        return run_stage(get_current_context(), build)

    @task
    def train() -> dict:
        from recaug.orchestrate.reuse import train_unless_trained

        return run_stage(get_current_context(), train_unless_trained)

    @task
    def evaluate(trained: dict) -> dict:
        from recaug.train.evaluate import evaluate as evaluate_model

        return run_stage(get_current_context(), lambda settings: evaluate_model(settings, trained["artifact_dir"]))

    @task
    def gate(trained: dict, evaluated: dict) -> dict:
        from recaug.train.gate import gate as gate_model

        return run_stage(get_current_context(), lambda settings: gate_model(settings, trained["artifact_dir"]))

    @task
    def export(trained: dict, gated: dict) -> dict:
        from recaug.export.onnx import export as export_model

        return run_stage(get_current_context(), lambda settings: export_model(settings, trained["artifact_dir"]))

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def approved_for_deploy(gated: dict, exported: dict) -> bool:
        import logging

        params = get_current_context()["params"]
        if not params["deploy"]:
            logging.getLogger(__name__).info("deploy is off for this run (Param deploy=false)")
            return False
        logging.getLogger(__name__).info("gate: deploy=%s (%s)", gated["deploy"], gated["reason"])
        return bool(gated["deploy"])

    @task(trigger_rule="none_failed")
    def report() -> dict:
        from recaug.orchestrate.runs import RunInfo, write_run_info
        from recaug.report.build import build_report

        context = get_current_context()
        dag_run = context["dag_run"]

        def build(settings):
            write_run_info(settings.lake, RunInfo(
                run_id=settings.run_id, dag_id=dag_run.dag_id, orchestrator_run_id=dag_run.run_id,
                run_type=str(getattr(dag_run, "run_type", "") or "") or None,
                started_at=dag_run.start_date, params=dict(context["params"]),
            ))
            return build_report(settings, settings.run_id)

        return run_stage(context, build, ends_run=True)  # the run's last task: its lake lease ends

    batches = find_batches()
    export_events() >> batches
    ingested = GXValidateIngestOperator(task_id="validate_ingest", batches=batches, retries=0)
    versioned = DvcVersionOperator(task_id="version_data")
    augmented = augment()
    shards = plan_shards()
    merged = merge_embeddings(embed_shard.expand(shard=shards))
    features = build_features()
    applied = FeastApplyOperator(task_id="apply_feature_definitions")
    materialized = FeastMaterializeOperator(task_id="materialize")
    trained = train()
    evaluated = evaluate(trained)
    gated = gate(trained, evaluated)
    exported = export(trained, gated)
    deployed = TritonDeployOperator(task_id="deploy", artifact_dir=trained["artifact_dir"])
    reported = report()

    rebuild = full_rebuild_requested()
    batches >> ingested >> versioned >> rebuild >> set_aside_derived() >> augmented >> shards
    merged >> features >> [applied, trained]
    applied >> materialized
    approved_for_deploy(gated, exported) >> deployed
    materialized >> deployed
    [deployed, materialized] >> reported
    exported >> reported


recaug_nightly()
