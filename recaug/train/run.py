"""The `recaug train` stage: lake tables -> trained, evaluated model artifact `models/<run>/`.

Sequences come from the curated (+ augmented, + embedded) tables; user attributes and
profile embeddings come through Feast's point-in-time join (`recaug.train.user_features`)
when the model has a user tower and the feature store has been applied.

Idempotent: the artifact records a fingerprint of its inputs (data file hashes, model and
training parameters); a rerun with the same run id and fingerprint returns the stored
result. An interrupted run resumes from `models/<run>/checkpoint.pt`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from pydantic import BaseModel

from recaug import io
from recaug.errors import RecaugError
from recaug.train.dataset import SequenceData

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
AUGMENTED_TABLE = ("augment", "interactions.parquet")
ITEM_EMBEDDINGS_TABLE = ("embeddings", "items.parquet")
USER_FEATURE_TABLES = ("user_attributes", "user_profile")
ITEM_ATTRIBUTE_TABLE = "item_content.parquet"  # its llm_* columns: the LLM's item attributes (features build)


class TrainResult(BaseModel):
    run_id: str
    artifact_dir: str
    model_type: str
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    stop_reason: str = ""  # converged | cap | time (recaug.train.stopping)
    still_improving: bool = False  # best epoch = last epoch run: the budget ended training, not convergence
    valid_ndcg_at_10: float
    test_ndcg_at_10: float
    test_hr_at_10: float
    cold_item_hr_at_10: float | None
    mmr_weight: float | None = None  # the gateway's default diversity, chosen on validation
    train_seconds: float
    skipped: bool = False
    data: dict[str, Any] = {}


def input_urls(settings) -> dict[str, str]:
    """The lake tables this stage reads (the optional ones only when present and enabled)."""
    lake = settings.lake
    urls = {"interactions": lake.interactions}
    if io.exists(lake.items):
        urls["items"] = lake.items
    if settings.model.use_text and io.exists(lake.url(*ITEM_EMBEDDINGS_TABLE)):
        urls["item_embeddings"] = lake.url(*ITEM_EMBEDDINGS_TABLE)
    if (settings.train.use_augmented or settings.train.hard_negatives) and io.exists(lake.url(*AUGMENTED_TABLE)):
        urls["augmented"] = lake.url(*AUGMENTED_TABLE)
    if settings.model.use_attributes and settings.model.use_llm_attributes:
        from recaug.features.build import features_url

        if io.exists(features_url(settings, ITEM_ATTRIBUTE_TABLE)):
            urls["item_attributes"] = features_url(settings, ITEM_ATTRIBUTE_TABLE)
    if reads_user_features(settings):
        from recaug.features.build import features_url

        for table in USER_FEATURE_TABLES:
            if io.exists(features_url(settings, f"{table}.parquet")):
                urls[table] = features_url(settings, f"{table}.parquet")
    return urls


def reads_user_features(settings) -> bool:
    """A user tower is asked for and Feast can answer (`recaug features apply` has run)."""
    from recaug.features.repo import FeastRepo

    if not settings.model.use_user_features or settings.model.type != "fusion_sasrec":
        return False
    if not FeastRepo(settings).registry_exists():
        log.warning("model.use_user_features is on but there is no Feast registry in %s: training without user "
                    "attributes and profiles (run `recaug features build` and `recaug features apply` first)",
                    settings.lake.local("feast"))
        return False
    return True


def data_versions(settings) -> dict[str, str]:
    if not io.exists(settings.lake.interactions):
        raise RecaugError(f"{settings.lake.interactions} does not exist: run `recaug ingest` first")
    return {name: io.sha256_file(url) for name, url in input_urls(settings).items()}


def load_sequences(settings) -> SequenceData:
    from recaug.train.dataset import build_sequences

    urls = input_urls(settings)
    if "interactions" not in urls or not io.exists(urls["interactions"]):
        raise RecaugError(f"{settings.lake.interactions} does not exist: run `recaug ingest` first")
    tables = {name: io.read_parquet(url) for name, url in urls.items()
              if name not in (*USER_FEATURE_TABLES, "item_attributes")}
    if "item_attributes" in urls:
        from recaug.features.enrichment import COLUMNS

        content = io.read_parquet(urls["item_attributes"])  # tables built before fusion version 4 have no llm_*
        tables["item_attributes"] = content[["item_id", *[c for c in COLUMNS if c in content]]]
    data = build_sequences(
        tables["interactions"], tables.get("items"), tables.get("item_embeddings"), tables.get("augmented"),
        tables.get("item_attributes"),
        split=settings.train.split, temporal_cut_quantile=settings.train.temporal_cut_quantile,
        max_categories=settings.model.max_categories, price_buckets=settings.model.price_buckets,
    )
    if any(table in urls for table in USER_FEATURE_TABLES):
        from recaug.train.user_features import user_feature_timeline

        data.user_features = user_feature_timeline(settings, data)
    data.limit_validation(settings.train.max_valid_cases)
    if data.valid_cases_drawn_from:
        log.info("validation on %d of %d users, drawn by a hash of the user id (train.max_valid_cases); the test "
                 "cases are all %d", len(data.valid), data.valid_cases_drawn_from, len(data.test))
    return data


def resolve_artifact_dir(settings, artifact_dir: str | None = None) -> str:
    if artifact_dir:
        return str(artifact_dir)
    if settings.run_id:
        return settings.lake.url("models", settings.run_id)
    raise RecaugError("name the model: pass --artifact DIR or --run-id RUN")


def fingerprint(settings, versions: dict[str, str]) -> str:
    return io.content_hash(
        json.dumps(versions, sort_keys=True),
        json.dumps(settings.model.model_dump(mode="json"), sort_keys=True),
        json.dumps(settings.train.model_dump(mode="json", exclude={"device", "num_threads", "eval_batch_size"}),
                      sort_keys=True),
    )


def train(settings) -> TrainResult:
    """Fit `settings.model.type` on the lake's curated (+ augmented, + embedded) data."""
    from recaug.models.artifact import METRICS_FILE, PARAMS_FILE, build_model, model_params, save_artifact
    from recaug.train.diversity import candidates_served, mmr_curve
    from recaug.train.evaluate import evaluate_recommender, require_cases
    from recaug.train.loop import fit, seed_everything, select_device
    from recaug.train.plots import plot_metric_bars, plot_training_curves

    versions = data_versions(settings)
    inputs_fingerprint = fingerprint(settings, versions)
    run_id = settings.run_id or f"train-{inputs_fingerprint[:12]}"
    artifact_dir = settings.lake.url("models", run_id)
    params_url, metrics_url = io.join(artifact_dir, PARAMS_FILE), io.join(artifact_dir, METRICS_FILE)
    if io.exists(io.join(artifact_dir, "model.pt")) and io.exists(params_url) and io.exists(metrics_url):
        if io.read_json(params_url).get("fingerprint") == inputs_fingerprint:
            log.info("model %s is up to date with its inputs; nothing to train", artifact_dir)
            return _result(run_id, artifact_dir, io.read_json(params_url), io.read_json(metrics_url), skipped=True)
        raise RecaugError(f"{artifact_dir} holds a model trained on other inputs or parameters; "
                          "choose a new --run-id instead of overwriting it")

    data = load_sequences(settings)
    require_cases(data.valid, "validation")
    device = select_device(settings.train.device)
    seed_everything(settings.train.seed)
    from recaug.models.user_tower import UserFeatureSpec

    model = build_model(settings.model.type, settings.model, data.num_items, data.item_features(),
                        UserFeatureSpec.fit(data.user_features.first_known() if data.user_features is not None else None))
    log.info("training %s (%d parameters) on %s: %s", model.name, sum(p.numel() for p in model.parameters()),
             device, data.summary())
    started = time.perf_counter()
    fitted = fit(model, data, settings.train, checkpoint_url=io.join(artifact_dir, CHECKPOINT_FILE),
                 checkpoint_key=inputs_fingerprint, device=device)
    train_seconds = time.perf_counter() - started
    max_length = settings.model.max_length
    valid = evaluate_recommender(model, data.valid, data, settings.train, max_length, device)
    test = evaluate_recommender(model, data.test, data, settings.train, max_length, device)
    mmr = mmr_curve(model, data, settings.train, max_length, candidates_served(settings), device)
    metrics = {
        "split": data.split, "valid": valid, "test": test, "best_epoch": fitted.best_epoch,
        "epochs_run": len(fitted.history), "stopped_early": fitted.stopped_early, "train_seconds": train_seconds,
        "history": fitted.history, "cold_boost": fitted.cold_boost, "mmr": mmr,
        "stop_reason": fitted.stop_reason, "still_improving": fitted.still_improving,
        "warnings": [fitted.warning] if fitted.warning else [],
    }
    params = model_params(model, {
        "run_id": run_id, "fingerprint": inputs_fingerprint, "train": settings.train.model_dump(mode="json"),
        "data": data.summary(), "device": str(device),
    })
    model.to("cpu")
    save_artifact(artifact_dir, model, data.vocab, params, metrics, versions)
    if io.exists(io.join(artifact_dir, CHECKPOINT_FILE)):
        fs, path = io.filesystem(io.join(artifact_dir, CHECKPOINT_FILE))
        fs.rm(path)
    if io.is_local(artifact_dir):
        plot_training_curves(fitted.history, io.join(artifact_dir, "training_curves.png"))
        plot_metric_bars({model.name: test}, io.join(artifact_dir, "test_metrics.png"))
    result = _result(run_id, artifact_dir, params, metrics)
    log.info("trained %s: %s", artifact_dir, result.model_dump(mode="json"))
    return result


def _result(run_id: str, artifact_dir: str, params: dict, metrics: dict, skipped: bool = False) -> TrainResult:
    test = metrics["test"]
    return TrainResult(
        run_id=run_id, artifact_dir=artifact_dir, model_type=params["model_type"], best_epoch=metrics["best_epoch"],
        epochs_run=metrics["epochs_run"], stopped_early=metrics["stopped_early"],
        stop_reason=metrics.get("stop_reason", ""), still_improving=metrics.get("still_improving", False),
        valid_ndcg_at_10=metrics["valid"]["overall"].get("ndcg@10", 0.0),
        test_ndcg_at_10=test["overall"].get("ndcg@10", 0.0), test_hr_at_10=test["overall"].get("hr@10", 0.0),
        cold_item_hr_at_10=test["cold_items"].get("hr@10"), train_seconds=metrics["train_seconds"],
        mmr_weight=(metrics.get("mmr") or {}).get("chosen_weight"),
        skipped=skipped, data=params.get("data", {}),
    )
