"""Train only when something changed: a new run on the inputs an earlier model was
trained on reuses that model.

Every orchestrated run has its own run id, so a nightly run without new data would
otherwise fit the same model again under a new `models/<run>/` and deploy an identical
copy as a new Triton version. The train stage fingerprints its inputs (data versions,
model and train settings); when a complete artifact in `models/` carries the current
fingerprint, the run trains "into" that artifact instead, which the stage recognises as
up to date, and evaluate, gate, export and deploy then find nothing new to do.
"""

from __future__ import annotations

import logging

from recaug import io

log = logging.getLogger(__name__)

REQUIRED_FILES = ("model.pt", "params.json", "metrics.json")


def trained_run_for_inputs(settings) -> str | None:
    """Run id of a complete model artifact trained on exactly the current inputs, the
    live model first, else the newest; None when the inputs are new."""
    from recaug.train.gate import read_champion
    from recaug.train.run import data_versions, fingerprint

    current = fingerprint(settings, data_versions(settings))
    models = settings.lake.url("models")
    fs, path = io.filesystem(models)
    if not fs.exists(path):
        return None
    runs = sorted(
        (entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in fs.ls(path, detail=True) if entry["type"] == "directory"),
        reverse=True,
    )
    champion = read_champion(settings)
    champion_run = champion.artifact_dir.rstrip("/").rsplit("/", 1)[-1] if champion else None
    if champion_run in runs:
        runs.remove(champion_run)
        runs.insert(0, champion_run)
    for run in runs:
        artifact = io.join(models, run)
        if not all(io.exists(io.join(artifact, name)) for name in REQUIRED_FILES):
            continue
        if io.read_json(io.join(artifact, "params.json")).get("fingerprint") == current:
            return run
    return None


def train_unless_trained(settings):
    """`recaug.train.run.train`, or the result of the earlier model trained on the same inputs."""
    from recaug.train.run import train

    earlier = trained_run_for_inputs(settings)
    if earlier is None or earlier == settings.run_id:
        return train(settings)
    log.info("inputs unchanged since run %s (same data versions and parameters): reusing its model", earlier)
    return train(settings.model_copy(update={"run_id": earlier}))
