from __future__ import annotations

import pandas as pd

from recaug import io
from recaug.data.schemas import INTERACTIONS, conform
from recaug.orchestrate.reuse import trained_run_for_inputs
from recaug.train.run import data_versions, fingerprint


def _curated(settings, users=("u1", "u2")) -> None:
    rows = [{"user_id": u, "item_id": f"i{n}", "timestamp": 1767225600 + n} for u in users for n in range(3)]
    io.write_parquet(conform(pd.DataFrame(rows), INTERACTIONS), settings.lake.interactions)


def _artifact(settings, run: str, fingerprint_value: str, complete: bool = True) -> None:
    folder = settings.lake.url("models", run)
    io.write_json(io.join(folder, "params.json"), {"run_id": run, "fingerprint": fingerprint_value})
    io.write_json(io.join(folder, "metrics.json"), {})
    if complete:
        io.write_bytes(io.join(folder, "model.pt"), b"weights")


def test_finds_the_model_trained_on_the_same_inputs_champion_first(settings):
    _curated(settings)
    current = fingerprint(settings, data_versions(settings))
    assert trained_run_for_inputs(settings) is None  # no models yet

    _artifact(settings, "run-1", current)
    _artifact(settings, "run-2", "other inputs")
    _artifact(settings, "run-3", current, complete=False)  # crashed before model.pt
    assert trained_run_for_inputs(settings) == "run-1"

    _artifact(settings, "run-0", current)
    io.write_json(settings.lake.url("models", "champion.json"), {"run_id": "run-0", "artifact_dir": settings.lake.url("models", "run-0")})
    assert trained_run_for_inputs(settings) == "run-0"


def test_new_data_or_new_parameters_mean_new_training(settings):
    _curated(settings)
    _artifact(settings, "run-1", fingerprint(settings, data_versions(settings)))

    assert trained_run_for_inputs(settings.model_copy(update={"train": settings.train.model_copy(update={"seed": 99})})) is None
    _curated(settings, users=("u1", "u2", "u3"))
    assert trained_run_for_inputs(settings) is None
