"""The trigger form of the nightly DAG and how its answers become settings overrides.

Each Param maps to one dotted settings key; its default is the value the settings
resolve to when the DAG is parsed (code defaults < params.yaml < RECAUG_* env), so the
form shows what a scheduled run would use. Manual and scheduled runs go through the
same mapping.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT_ENV = "RECAUG_PROJECT_ROOT"


def project_root() -> Path:
    """The checkout holding params.yaml and feature_repo/ (plugins/ sits at its top)."""
    return Path(os.environ.get(PROJECT_ROOT_ENV) or Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class ParamSpec:
    name: str
    setting: str
    type: str | list[str]
    description: str
    extra: tuple[tuple[str, Any], ...] = ()


PARAM_SPECS = (
    ParamSpec("lake_root", "lake_root", "string", "Data lake root (local path, relative to the checkout, or fsspec URL). New batches are read from <lake_root>/landing."),
    ParamSpec("augment_enabled", "augment.enabled", "boolean", "Run LLM augmentation (item enrichment, user profiles, synthetic interactions)."),
    ParamSpec("augment_backend", "augment.backend.type", "string", "Text generator: a local LLM, an OpenAI-compatible endpoint, or templates (no LLM).", (("enum", ["transformers", "openai", "template"]),)),
    ParamSpec("augment_budget", "augment.max_items_per_run", "integer", "Cap on LLM generations per run (cold and long-tail items first).", (("minimum", 0),)),
    ParamSpec("model_type", "model.type", "string", "Sequential model to train.", (("enum", ["fusion_sasrec", "gru4rec"]),)),
    ParamSpec("hidden_size", "model.hidden_size", "integer", "Model width (embedding and transformer size).", (("minimum", 8),)),
    ParamSpec("num_layers", "model.num_layers", "integer", "Transformer blocks (GRU layers for gru4rec).", (("minimum", 1),)),
    ParamSpec("epochs", "train.epochs", "integer", "Upper bound on training epochs (early stopping usually ends sooner).", (("minimum", 1),)),
    ParamSpec("deploy", "deploy.enabled", "boolean", "Deploy an approved model to Triton. Off: train, evaluate and export only."),
)

ORCHESTRATION_PARAMS: dict[str, dict[str, Any]] = {
    "embed_shards": {
        "default": 2, "type": "integer", "minimum": 1, "maximum": 64,
        "description": "Embedding shards run as parallel mapped tasks (pool 'gpu'), then merged.",
    },
    "force_full_rebuild": {
        "default": False, "type": "boolean",
        "description": "Set derived data and content-hash caches aside (state/rebuild-<run>/) so every "
        "stage recomputes from the curated data. Raw batches, quarantine and earlier models are kept.",
    },
    "overrides": {
        "default": {}, "type": "object",
        "description": 'Any other settings as {"section.key": value}, e.g. {"train.seed": 1}. Applied last.',
    },
}


def _dotted_get(obj: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        obj = getattr(obj, "validate_" if key == "validate" else key)
    return obj


def _dotted_set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def current_settings():
    """Settings as a task would see them before Params: params.yaml of the checkout."""
    from recaug.settings import load_settings

    os.environ.setdefault("RECAUG_PARAMS", str(project_root() / "params.yaml"))
    return load_settings()


def build_params() -> dict[str, Any]:
    """Airflow Params for the trigger form (types, defaults, descriptions)."""
    from airflow.sdk import Param

    defaults = current_settings()
    params: dict[str, Any] = {}
    for spec in PARAM_SPECS:
        default = _dotted_get(defaults, spec.setting)
        params[spec.name] = Param(
            default, type=spec.type, description=f"{spec.description} (setting `{spec.setting}`)",
            title=spec.name.replace("_", " ").capitalize(), **dict(spec.extra),
        )
    for name, schema in ORCHESTRATION_PARAMS.items():
        schema = dict(schema)
        params[name] = Param(schema.pop("default"), title=name.replace("_", " ").capitalize(), **schema)
    return params


def to_overrides(params: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Settings overrides for one run from its resolved Params."""
    overrides: dict[str, Any] = {"run_id": run_id}
    for spec in PARAM_SPECS:
        if spec.name in params and params[spec.name] is not None:
            _dotted_set(overrides, spec.setting, params[spec.name])
    extra = params.get("overrides") or {}
    if not isinstance(extra, dict):
        raise ValueError(f"Param 'overrides' must be an object of section.key -> value, got {extra!r}")
    for dotted, value in extra.items():
        _dotted_set(overrides, dotted, value)
    root = str(overrides.get("lake_root", ""))
    if root and "://" not in root and not Path(root).is_absolute():
        overrides["lake_root"] = str(project_root() / root)
    return overrides
