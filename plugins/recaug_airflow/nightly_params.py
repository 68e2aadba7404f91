"""The trigger form of the nightly DAG as Airflow Params.

What the form may change, and how its answers become settings, lives in
`recaug.orchestrate.overrides`; this module only turns that into Params. Each typed
field's default is the value the settings resolve to when the DAG is parsed (code
defaults < params.yaml < RECAUG_* env), so the form shows what a scheduled run would
use. The JSON schemas make Airflow refuse a run with a forbidden value when it is
triggered (UI, REST API, dag.test), before any task runs.
"""

from __future__ import annotations

import os
from typing import Any

from recaug.orchestrate.overrides import (
    ALLOW_LIST_DOC,
    FORM_FIELDS,
    form_schemas,
    overrides_schema,
    project_root,
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
}


def _dotted_get(obj: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        obj = getattr(obj, "validate_" if key == "validate" else key)
    return obj


def current_settings():
    """Settings as a task would see them before Params: params.yaml of the checkout."""
    from recaug.settings import load_settings

    os.environ.setdefault("RECAUG_PARAMS", str(project_root() / "params.yaml"))
    return load_settings()


def build_params() -> dict[str, Any]:
    """Airflow Params for the trigger form (types, defaults, descriptions, allowed values)."""
    from airflow.sdk import Param

    operator = current_settings()
    schemas = form_schemas(operator)
    params: dict[str, Any] = {}
    for spec in FORM_FIELDS:
        params[spec.name] = Param(
            _dotted_get(operator, spec.setting), description=f"{spec.description} (setting `{spec.setting}`)",
            title=spec.name.replace("_", " ").capitalize(), **schemas[spec.name],
        )
    for name, schema in ORCHESTRATION_PARAMS.items():
        schema = dict(schema)
        params[name] = Param(schema.pop("default"), title=name.replace("_", " ").capitalize(), **schema)
    params["overrides"] = Param(
        {}, title="Overrides",
        description='Tuning settings as {"section.key": value}, e.g. {"train.seed": 1}, applied last. Only the safe '
        f"keys listed in {ALLOW_LIST_DOC} are accepted (hyper-parameters, budgets, batch sizes, seeds, threads); "
        "paths, URLs, hosts, ports, interpreters, environment variable names, network backends and the run id are refused.",
        **overrides_schema(),
    )
    return params
