"""Champion/challenger gate: propose a new model for deploy only if it is not worse than
the champion, the model that serves.

The gate only proposes: its decision and both numbers go to `models/<run>/gate.json`.
What is live has one source of truth, the last successful deploy record
(`recaug.deploy.deploy.live_record`), written by the deploy stage after the new version
passed its smoke test; that is the promotion. So a run whose deploy fails or is off
promotes nothing, and the next gate still compares against what really serves. Lakes from
before this rule may hold `models/champion.json` (written by older gates, not necessarily
served): it is read only while no deploy record exists, and never written.

Besides NDCG, the challenger must reach floors on what users would see from it: the
catalogue coverage and the intra-list diversity of its validation top-10 lists at its
default MMR weight (`train.gate_min_coverage`, `train.gate_min_diversity`; 0 = no floor;
recaug.train.diversity). A floor missed keeps the live model, and the reason names the
floor and by how much it was missed.

Both models are compared on the same evaluation data: when the champion was evaluated on
other data than the challenger (its data_versions.json differs), it is re-evaluated on
the challenger's data (the lake's current tables) first.
"""

from __future__ import annotations

import datetime as dt
import logging

from pydantic import BaseModel, Field

from recaug import io
from recaug.errors import RecaugError

log = logging.getLogger(__name__)

GATE_FILE = "gate.json"


class Champion(BaseModel):
    """The model a challenger must not be worse than."""

    run_id: str
    artifact_dir: str
    version: int | None = Field(None, description="Triton version serving it (None for a legacy champion.json)")
    source: str = Field(description="where it was read from, in words")


class FloorCheck(BaseModel):
    """One floor of the gate, on the challenger's validation lists at its default MMR weight."""

    metric: str
    floor: float
    value: float | None = Field(description="None when it cannot be measured (no item text embeddings)")
    mmr_weight: float
    passed: bool | None = Field(description="None when not measured: the floor does not block")

    def shortfall(self) -> str:
        return (f"{self.metric} {self.value:.4f} is below the floor {self.floor:.4f} by {self.floor - self.value:.4f} "
                f"(validation top lists at MMR weight {self.mmr_weight:g})")


class GateDecision(BaseModel):
    deploy: bool = Field(description="proposed for deploy (the deploy stage promotes it once it serves)")
    reason: str
    metric: str
    tolerance: float
    challenger_run: str
    challenger_value: float
    champion_run: str | None = None
    champion_value: float | None = None
    champion_reevaluated: bool = False
    champion_version: int | None = Field(None, description="Triton version of the live model compared against")
    champion_source: str = ""
    floors: list[FloorCheck] = []
    artifact_dir: str


def legacy_champion_url(settings) -> str:
    return settings.lake.url("models", "champion.json")


def read_champion(settings) -> Champion | None:
    """The live model (last successful deploy record); else a legacy champion.json; else None."""
    from recaug.deploy.deploy import live_record

    live = live_record(settings)
    if live is not None:
        return Champion(run_id=_run_of(live.artifact_dir), artifact_dir=live.artifact_dir, version=live.version,
                        source=f"deploy record: {live.model_name} version {live.version} is live")
    url = legacy_champion_url(settings)
    if io.exists(url):
        legacy = io.read_json(url)
        return Champion(run_id=legacy.get("run_id") or _run_of(legacy["artifact_dir"]), artifact_dir=legacy["artifact_dir"],
                        source="legacy models/champion.json (no deploy record yet; it may never have served)")
    return None


def _run_of(artifact_dir: str) -> str:
    from recaug.models.artifact import PARAMS_FILE

    params = io.join(artifact_dir, PARAMS_FILE)
    run = io.read_json(params).get("run_id") if io.exists(params) else None
    return run or artifact_dir.rstrip("/").rsplit("/", 1)[-1]


def _check_metric(name: str) -> str:
    if "@" not in name:
        raise RecaugError(f"train.gate_metric={name!r}: expected a ranking metric such as ndcg@10")
    return name


def _valid_value(metrics: dict, metric: str, where: str) -> float:
    try:
        return float(metrics["valid"]["overall"][metric])
    except KeyError as exc:
        raise RecaugError(f"{where}/metrics.json has no validation {metric}; run `recaug evaluate` on it") from exc


def _data_versions(artifact_dir: str) -> dict | None:
    from recaug.models.artifact import DATA_VERSIONS_FILE

    url = io.join(artifact_dir, DATA_VERSIONS_FILE)
    return io.read_json(url) if io.exists(url) else None


def _reevaluate(settings, artifact_dir: str, metric: str, lists: bool = False) -> tuple[float, dict]:
    """The model's validation metric on the lake's current data and, with `lists`, its
    validation list metrics at its default MMR weight (for the floors)."""
    from recaug.models.artifact import METRICS_FILE, load_artifact
    from recaug.train.diversity import candidate_pools, candidates_served, list_metrics, rerank, served_weight
    from recaug.train.evaluate import evaluate_recommender, recommender_for
    from recaug.train.loop import select_device
    from recaug.train.run import load_sequences

    model, vocab, _ = load_artifact(artifact_dir)
    device = select_device(settings.train.device)
    data = load_sequences(settings)
    recommender = recommender_for(model.to(device), vocab, data)
    max_length = model.config.max_length
    result = evaluate_recommender(recommender, data.valid, data, settings.train, max_length, device)
    value, served = float(result["overall"].get(metric, 0.0)), result["overall"]
    if lists and data.text.shape[1]:
        k = min(settings.train.ks)
        weight = served_weight(io.read_json(io.join(artifact_dir, METRICS_FILE)))
        ids, scores = candidate_pools(recommender, data.valid, settings.train, max_length,
                                      max(k, candidates_served(settings)), device, data)
        served = {"weight": weight, **list_metrics(rerank(ids, scores, data.text, k, weight), data.valid.targets,
                                                    data.text, data.num_items)}
    return value, served


def check_floors(config, served: dict, weight: float) -> list[FloorCheck]:
    """The coverage and diversity floors that are set (> 0), against `served` (validation list
    metrics at the model's default MMR weight)."""
    k = min(config.ks)
    checks = []
    for metric, floor in ((f"coverage@{k}", config.gate_min_coverage), (f"diversity@{k}", config.gate_min_diversity)):
        if floor <= 0:
            continue
        value = served.get(metric)
        checks.append(FloorCheck(metric=metric, floor=floor, value=value, mmr_weight=weight,
                                 passed=None if value is None else bool(value >= floor)))
    return checks


def gate(settings, artifact_dir: str | None = None) -> GateDecision:
    from recaug.models.artifact import METRICS_FILE, PARAMS_FILE, ArtifactError
    from recaug.train.diversity import served_validation, served_weight
    from recaug.train.run import data_versions, resolve_artifact_dir

    artifact_dir = resolve_artifact_dir(settings, artifact_dir)
    metric, tolerance = _check_metric(settings.train.gate_metric), settings.train.gate_tolerance
    for name in (METRICS_FILE, PARAMS_FILE):
        if not io.exists(io.join(artifact_dir, name)):
            raise RecaugError(f"{artifact_dir}: missing {name}; train (and evaluate) the model before gating it")
    challenger_run = io.read_json(io.join(artifact_dir, PARAMS_FILE)).get("run_id") or artifact_dir.rstrip("/").rsplit("/", 1)[-1]
    challenger_versions = _data_versions(artifact_dir)
    current_versions = data_versions(settings)
    challenger_metrics = io.read_json(io.join(artifact_dir, METRICS_FILE))
    if challenger_versions == current_versions:
        challenger_value = _valid_value(challenger_metrics, metric, artifact_dir)
        served = served_validation(challenger_metrics)
    else:
        log.info("challenger %s was evaluated on other data: re-evaluating it on the current lake", artifact_dir)
        challenger_value, served = _reevaluate(settings, artifact_dir, metric, lists=True)
    floors = check_floors(settings.train, served, served_weight(challenger_metrics))

    champion = read_champion(settings)
    decision = dict(metric=metric, tolerance=tolerance, challenger_run=challenger_run,
                    challenger_value=challenger_value, floors=floors, artifact_dir=artifact_dir)
    if champion is not None:
        decision.update(champion_run=champion.run_id, champion_version=champion.version,
                        champion_source=champion.source)
    if champion is None:
        result = GateDecision(deploy=True, reason="no model is live yet", **decision)
    elif champion.artifact_dir == artifact_dir:
        result = GateDecision(deploy=True, reason="already the live model", champion_value=challenger_value, **decision)
    else:
        champion_dir = champion.artifact_dir
        reevaluated = _data_versions(champion_dir) != current_versions
        try:
            if reevaluated:
                champion_value, _ = _reevaluate(settings, champion_dir, metric)
            else:
                champion_value = _valid_value(io.read_json(io.join(champion_dir, METRICS_FILE)), metric, champion_dir)
        except ArtifactError as exc:
            # A champion written by older model code cannot be scored on today's data; refusing
            # forever would freeze the nightly pipeline, so the challenger wins and the reason says why.
            champion_value = None
            result = GateDecision(deploy=True, **decision,
                                  reason=f"champion {champion.run_id} cannot be evaluated by this code: {exc}")
        if champion_value is not None:
            deploy = challenger_value >= champion_value - tolerance
            comparison = ">=" if deploy else "<"
            reason = (f"challenger {metric} {challenger_value:.4f} {comparison} champion {champion_value:.4f} "
                      f"- tolerance {tolerance}")
            result = GateDecision(deploy=deploy, reason=reason, champion_value=champion_value,
                                  champion_reevaluated=reevaluated, **decision)

    missed = [check.shortfall() for check in floors if check.passed is False]
    if missed:
        result = result.model_copy(update={"deploy": False, "reason": f"{result.reason}; but " + "; ".join(missed)})
    io.write_json(io.join(artifact_dir, GATE_FILE), {
        **result.model_dump(mode="json"), "decided_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    })
    log.info("gate %s: %s (%s); only a successful deploy makes it live", artifact_dir,
             "proposed for deploy" if result.deploy else "not proposed, the live model stays", result.reason)
    return result
