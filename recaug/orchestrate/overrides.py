"""What the trigger form of a run may change, and how its answers become settings overrides.

Anyone who can trigger a run fills in this form, so it must not reach what the operator
alone decides: where data lives and goes (paths, URLs, hosts, ports, the lake, the run
id), what runs (interpreters, model folders, modules), which secrets are read
(environment variable names), backends that reach the network, and the guards of what
serves (validation rules, the champion gate, parity and smoke tolerances). The form
therefore has typed fields for the common choices and an `overrides` object limited to
`SAFE_OVERRIDES`, the tuning knobs of a run. Both are enforced twice: as the Params'
JSON schema, so Airflow refuses a bad run at trigger time before any task runs, and
again here when a task turns the Params into settings. docs/OVERRIDES.md lists the
keys and the reasons.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError

from recaug.errors import ConfigError

PROJECT_ROOT_ENV = "RECAUG_PROJECT_ROOT"
ALLOWED_LAKE_ROOTS_ENV = "RECAUG_ALLOWED_LAKE_ROOTS"
ALLOW_LIST_DOC = "docs/OVERRIDES.md"
LOCAL_BACKENDS = ("transformers", "template")  # generator backends that never leave the machine


class ForbiddenParam(ConfigError):
    """A run's Params ask for something the trigger form may not change."""


def project_root() -> Path:
    """The checkout holding params.yaml, var/ and feature_repo/."""
    return Path(os.environ.get(PROJECT_ROOT_ENV) or Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class FormField:
    """One typed field of the trigger form and the setting it fills."""

    name: str
    setting: str
    description: str
    schema: dict[str, Any] = field(default_factory=dict)


FORM_FIELDS = (
    FormField("lake_root", "lake_root", "Data lake root (a path relative to the checkout, an absolute path or an fsspec URL), "
              f"inside the allowed lake roots: the checkout's var/, the operator's lake_root and ${ALLOWED_LAKE_ROOTS_ENV}. "
              "New batches are read from <lake_root>/landing.", {"type": "string"}),
    FormField("augment_enabled", "augment.enabled", "Run LLM augmentation (item enrichment, user profiles, synthetic interactions).",
              {"type": "boolean"}),
    FormField("augment_backend", "augment.backend.type", "Text generator: the local LLM, templates (no LLM), or the "
              "OpenAI-compatible endpoint when the operator configured one (under the operator's data-flow policy, "
              "docs/PRIVACY.md).", {"type": "string"}),
    FormField("augment_budget", "augment.max_llm_prompts_per_run", "LLM prompts this run may send, all tasks together: "
              "item descriptions first (cold and long-tail items), then user profiles (sparsest users), then interaction "
              "picks for sparse users; each task also keeps its own cap (augment.max_items_per_run, "
              "augment.max_profiles_per_run, augment.interactions.max_users_per_run). 0: no LLM call at all. Answers "
              "cached by earlier runs are free; what the budget leaves out gets the template text now and the LLM in a "
              "later run. The augment task logs the estimated LLM time before it starts.",
              {"type": "integer", "minimum": 0}),
    FormField("model_type", "model.type", "Sequential model to train.", {"type": "string", "enum": ["fusion_sasrec", "gru4rec"]}),
    FormField("hidden_size", "model.hidden_size", "Model width (embedding and transformer size).", {"type": "integer", "minimum": 8}),
    FormField("num_layers", "model.num_layers", "Transformer blocks (GRU layers for gru4rec).", {"type": "integer", "minimum": 1}),
    FormField("epochs", "train.epochs", "Upper bound on training epochs (early stopping usually ends sooner).",
              {"type": "integer", "minimum": 1}),
    FormField("deploy", "deploy.enabled", "Deploy an approved model to Triton. Off: train, evaluate and export only.",
              {"type": "boolean"}),
)
FORM_SETTINGS = {f.setting: f.name for f in FORM_FIELDS}

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # version labels: hashed into cache keys, nothing else

# Settings the `overrides` object may set: hyper-parameters, budgets, limits, batch sizes,
# seeds and thread counts of the stages a nightly run executes. String settings carry a
# pattern, so no free text reaches prompts, file names or commands.
SAFE_OVERRIDES: dict[str, tuple[Any, ...]] = {
    **{f"augment.{k}": () for k in (
        "max_items_per_run", "max_profiles_per_run", "max_new_tokens", "max_attempts", "retry_temperature", "seed", "chunk_size",
        "profile_history", "max_description_chars", "max_profile_chars", "max_keywords",
    )},
    **{f"augment.prompts.{k}": (StringConstraints(pattern=_NAME),) for k in ("item", "profile", "pick")},
    **{f"augment.backend.{k}": () for k in ("device", "batch_size", "num_threads", "repetition_penalty")},
    **{f"augment.interactions.{k}": () for k in (
        "enabled", "sparse_max_events", "max_users_per_run", "candidates", "positives_per_user", "retriever",
        "retriever_weight", "unjudged_agreement",
    )},
    **{f"augment.denoise.{k}": () for k in ("min_confidence", "prune_rate")},
    **{f"embed.{k}": () for k in ("batch_size", "chunk_size", "use_enrichment", "embed_users")},
    **{f"embed.encoder.{k}": () for k in (
        "type", "device", "max_seq_length", "threads", "min_cosine", "precision", "quantization", "quantize_ffn_output", "opset",
    )},
    **{f"features.{k}": () for k in ("include_augmented", "history_length", "top_categories", "popularity_window_days", "ttl_days")},
    "features.snapshot_every": (StringConstraints(pattern=r"^[0-9]{0,4}[A-Za-z]{1,5}$"),),
    **{f"model.{k}": () for k in (
        "num_heads", "max_length", "dropout", "use_text", "text_channel", "text_channel_dim", "text_profile_decay",
        "use_attributes", "use_time", "fusion", "id_dropout", "time_buckets", "price_buckets", "max_categories",
    )},
    **{f"train.{k}": () for k in (
        "seed", "batch_size", "windows_per_user", "learning_rate", "lr_schedule", "scalar_lr_scale", "weight_decay",
        "patience", "min_delta", "min_relative_delta", "max_seconds", "max_steps_per_epoch", "amp", "num_threads", "split", "temporal_cut_quantile", "use_augmented",
        "augmented_weight", "prune_rate", "prune_warmup_epochs", "eval_batch_size", "max_valid_cases", "ks", "cold_item_threshold",
        "cold_boost", "cold_boost_reference", "cold_boost_max_ndcg_loss", "cold_user_threshold", "checkpoint_every",
    )},
    "train.device": (StringConstraints(pattern=r"^(auto|cpu|cuda(:[0-9]{1,2})?)$"),),
    **{f"validate.{k}": () for k in ("sample_values", "data_docs")},
}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config classes a field holds: itself, or each member of a (discriminated) union."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) is Annotated:
        return _models_in(get_args(annotation)[0])
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def setting_fields(dotted: str) -> list:
    """The pydantic fields a dotted setting names: one, or one per backend of a union that has
    it (`embed.encoder.type` is "auto" in one class, "onnx" in another). Empty when unknown."""
    from recaug.settings import Settings

    models: list[type[BaseModel]] = [Settings]
    keys = dotted.split(".")
    found: list = []
    for depth, key in enumerate(keys):
        name = "validate_" if depth == 0 and key == "validate" else key
        found = [m.model_fields[name] for m in models if name in m.model_fields]
        models = [model for f in found for model in _models_in(f.annotation)]
    return found


def _adapter(dotted: str) -> TypeAdapter:
    """Validates a value as the setting does, with the extra rules of SAFE_OVERRIDES."""
    variants = []
    for info in setting_fields(dotted):
        constraints = (*info.metadata, *SAFE_OVERRIDES.get(dotted, ()))
        variant = Annotated[(info.annotation, *constraints)] if constraints else info.annotation
        if variant not in variants:
            variants.append(variant)
    if not variants:
        raise KeyError(f"{dotted} is not a setting")
    return TypeAdapter(variants[0] if len(variants) == 1 else Union[tuple(variants)])


def overrides_schema() -> dict[str, Any]:
    """JSON schema of the `overrides` Param: only SAFE_OVERRIDES, each with its setting's type."""
    properties = {}
    for dotted in SAFE_OVERRIDES:
        schema = _adapter(dotted).json_schema()
        schema.pop("title", None)
        description = setting_fields(dotted)[0].description
        properties[dotted] = {**schema, **({"description": description} if description else {})}
    return {"type": "object", "additionalProperties": False, "properties": properties}


def _refusal(dotted: str) -> str:
    if dotted in FORM_SETTINGS:
        return f"it has its own form field '{FORM_SETTINGS[dotted]}'; set it there"
    if not setting_fields(dotted):
        return "no such setting"
    return ("it is not one of the safe tuning keys (paths, URLs, hosts, ports, interpreters, environment variable names, "
            "network backends, the run id and the guards of what serves are the operator's)")


def check_overrides(extra: Any) -> dict[str, Any]:
    """The `overrides` object, every key on the allow-list and every value of its setting's type."""
    if not isinstance(extra, dict):
        raise ForbiddenParam(f"Param 'overrides' must be an object of section.key -> value, got {extra!r}")
    for dotted, value in extra.items():
        if dotted not in SAFE_OVERRIDES:
            raise ForbiddenParam(f"Param 'overrides': key '{dotted}' is refused: {_refusal(dotted)}. "
                                 f"Allowed keys: {ALLOW_LIST_DOC}")
        try:
            _adapter(dotted).validate_python(value, strict=True)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"]
            raise ForbiddenParam(f"Param 'overrides': key '{dotted}' = {value!r}: {problem}") from None
    return extra


def _absolute(root: str) -> str:
    """A lake root as compared: URLs as written, paths absolute (relative to the checkout) with symlinks resolved."""
    if "://" in root:
        return root.rstrip("/")
    path = Path(root).expanduser()
    return os.path.realpath(path if path.is_absolute() else project_root() / path)


def allowed_lake_roots(operator_lake_root: str) -> list[str]:
    """Where a run's lake may be: the checkout's var/, the operator's lake_root, and the
    comma-separated list in $RECAUG_ALLOWED_LAKE_ROOTS."""
    roots = ["var", operator_lake_root, *os.environ.get(ALLOWED_LAKE_ROOTS_ENV, "").split(",")]
    return list(dict.fromkeys(_absolute(r.strip()) for r in roots if r.strip()))


def check_lake_root(value: str, operator_lake_root: str) -> str:
    """`value` made absolute, when it is one of the allowed roots or inside one; else ForbiddenParam."""
    if ".." in re.split(r"[/\\]", str(value)):
        raise ForbiddenParam(f"Param 'lake_root' {value!r}: '..' is not allowed in a lake root")
    resolved = _absolute(str(value))
    roots = allowed_lake_roots(operator_lake_root)
    if any(resolved == root or resolved.startswith(root.rstrip("/") + "/") for root in roots):
        return resolved
    raise ForbiddenParam(f"Param 'lake_root' {value!r} (resolved {resolved}) is outside the allowed lake roots "
                         f"{roots}; the operator adds roots with ${ALLOWED_LAKE_ROOTS_ENV} (see {ALLOW_LIST_DOC})")


def lake_root_pattern(operator_lake_root: str) -> str:
    """The same rule as a JSON-schema pattern (no '..' segment; one of the allowed roots or below
    it, written absolute or, inside the checkout, relative to it); symlinks are checked by the task."""
    root = str(project_root().resolve())
    spellings: list[str] = []
    for allowed in allowed_lake_roots(operator_lake_root):
        spellings.append(allowed)
        if allowed.startswith(root + "/"):
            spellings.append(allowed[len(root) + 1:])
    alternatives = "|".join(re.escape(s.rstrip("/")) for s in dict.fromkeys(spellings))
    return rf"^(?!.*(^|/)\.\.(/|$))({alternatives})(/.*)?$"


def form_backends(operator) -> list[str]:
    """Generator backends the form may pick: the local ones, plus the endpoint the operator configured."""
    backends = list(LOCAL_BACKENDS)
    if operator.augment.backend.type not in backends:
        backends.append(operator.augment.backend.type)
    return backends


def form_schemas(operator) -> dict[str, dict[str, Any]]:
    """JSON schema of each typed form field, given the operator's settings (which decide the
    allowed lake roots and whether an OpenAI-compatible endpoint is on offer)."""
    schemas = {f.name: dict(f.schema) for f in FORM_FIELDS}
    schemas["lake_root"]["pattern"] = lake_root_pattern(operator.lake_root)
    schemas["augment_backend"]["enum"] = form_backends(operator)
    return schemas


def _dotted_set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def to_overrides(params: dict[str, Any], run_id: str, operator) -> dict[str, Any]:
    """Settings overrides for one run from its Params, checked against what the form may change.

    `operator` is the settings without the form (code defaults, params.yaml, RECAUG_* env):
    it names the operator's lake root and endpoint."""
    overrides: dict[str, Any] = {"run_id": run_id}
    for form_field in FORM_FIELDS:
        value = params.get(form_field.name)
        if value is not None:
            _dotted_set(overrides, form_field.setting, value)
    backend = params.get("augment_backend")
    if backend is not None and backend not in form_backends(operator):
        raise ForbiddenParam(f"Param 'augment_backend' {backend!r}: the form may pick {form_backends(operator)}; "
                             "an OpenAI-compatible endpoint is configured by the operator (augment.backend in params.yaml)")
    for dotted, value in check_overrides(params.get("overrides") or {}).items():
        _dotted_set(overrides, dotted, value)
    if overrides.get("lake_root"):
        overrides["lake_root"] = check_lake_root(overrides["lake_root"], operator.lake_root)
    return overrides
