"""The model half of a run in one call: train → evaluate → gate → export, into an
artifact directory of its own.

Used by `dvc repro` (`recaug model --run-id dvc`): the pipeline run keeps a stable name
(its task records and report under `reports/<run>/`, where `dvc metrics show` and
`dvc plots show` read), while each model lives in `models/<run>-<inputs>/`, named by a
hash of what it was trained from: data versions, model and train parameters, and the
model code. Retraining after any change therefore writes a new directory and never
deletes or overwrites the one that serves or the one a rollback needs; rerunning on the
same inputs finds the finished artifact and recomputes nothing. Which artifact the run
produced is in `reports/<run>/tasks/train.json`, as for an Airflow run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel

from recaug import io
from recaug.errors import ConfigError

log = logging.getLogger(__name__)

# The packages whose code decides what a trained model is (dvc.yaml's model stage deps).
MODEL_CODE = ("models", "train", "export")


class ModelStagesResult(BaseModel):
    run_id: str
    artifact_dir: str
    trained: bool
    proposed_for_deploy: bool
    gate_reason: str
    model_sha256: str


def code_version() -> str:
    """Hash of the model, training and export code this process runs."""
    package = Path(__file__).resolve().parents[1]
    files = sorted(p for name in MODEL_CODE for p in (package / name).rglob("*.py"))
    return io.content_hash(*(part for p in files for part in (str(p.relative_to(package)), p.read_bytes())))


def artifact_run_id(settings) -> str:
    """`<run>-<12 hex>`: the same data, parameters and code give the same directory."""
    from recaug.train.run import data_versions, fingerprint

    inputs = io.content_hash(fingerprint(settings, data_versions(settings)), code_version())
    return f"{settings.run_id}-{inputs[:12]}"


def build_model(settings) -> ModelStagesResult:
    """Train (unless this exact model exists), evaluate, gate and export; each stage writes
    its task record under reports/<run>/tasks/."""
    from recaug.export.onnx import export
    from recaug.orchestrate.runs import timed_task
    from recaug.train.evaluate import evaluate
    from recaug.train.gate import gate
    from recaug.train.run import train

    if not settings.run_id:
        raise ConfigError("name the pipeline run: recaug model --run-id RUN (e.g. dvc)")
    lake, run = settings.lake, settings.run_id
    artifact_run = artifact_run_id(settings)
    with timed_task(lake, run, "train") as task:
        trained = train(settings.model_copy(update={"run_id": artifact_run}))
        task["result"] = trained.model_dump(mode="json")
    artifact_dir = trained.artifact_dir
    with timed_task(lake, run, "evaluate") as task:
        task["result"] = evaluate(settings, artifact_dir).model_dump(mode="json")
    with timed_task(lake, run, "gate") as task:
        decision = gate(settings, artifact_dir)
        task["result"] = decision.model_dump(mode="json")
    with timed_task(lake, run, "export") as task:
        exported = export(settings, artifact_dir)
        task["result"] = exported.model_dump(mode="json")
    log.info("run %s: model in %s (%s)", run, artifact_dir, "trained" if not trained.skipped else "already trained")
    return ModelStagesResult(run_id=run, artifact_dir=artifact_dir, trained=not trained.skipped,
                             proposed_for_deploy=decision.deploy, gate_reason=decision.reason,
                             model_sha256=exported.model_sha256)
