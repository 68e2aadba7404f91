"""The trigger form's allow-list: what a run's Params may change, checked by the Params'
JSON schema (what Airflow enforces at trigger time) and again by the mapping."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest

from recaug.orchestrate.overrides import (
    ALLOW_LIST_DOC,
    SAFE_OVERRIDES,
    ForbiddenParam,
    check_lake_root,
    form_schemas,
    overrides_schema,
    setting_fields,
    to_overrides,
)
from recaug.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]

ATTACKS = {
    "augment.backend.base_url": "http://attacker.example/v1",
    "augment.backend.api_key_env": "AWS_SECRET_ACCESS_KEY",
    "augment.backend.model_path": "/tmp/evil-model",
    "deploy.target.serving_venv": "/usr/bin",
    "deploy.target.type": "remote",
    "features.repo_path": "/etc",
    "features.online_store.type": "redis",
    "embed.encoder.cache_dir": "/root/.ssh",
    "data.versioning.remote_url": "s3://elsewhere",
    "run_id": "../../outside",
    "lake_root": "/",
    "train.gate_tolerance": 1.0,
    "export.parity_tolerance": 10.0,
    "validate.require_known_items": False,
    "augment.privacy.profile": "allowed",
    "augment.privacy.endpoint_location": "local",
    "privacy.personal_fields": [],
    "privacy.dvc_remote_drop_columns": [],
    "privacy.pseudonym_key_env": "HOME",
}


@pytest.fixture
def operator(settings, tmp_path, monkeypatch):
    """The operator's settings: a checkout in tmp with var/, no extra allowed roots."""
    checkout = tmp_path / "checkout"
    (checkout / "var").mkdir(parents=True)
    monkeypatch.setenv("RECAUG_PROJECT_ROOT", str(checkout))
    monkeypatch.delenv("RECAUG_ALLOWED_LAKE_ROOTS", raising=False)
    return settings


def test_every_safe_key_is_a_setting_and_no_free_text(operator):
    schema = overrides_schema()
    for dotted in SAFE_OVERRIDES:
        assert setting_fields(dotted), f"{dotted} is not a setting"
        prop = schema["properties"][dotted]
        for variant in prop.get("anyOf", [prop]):
            if variant.get("type") == "string":
                assert "pattern" in variant or "enum" in variant or "const" in variant, f"{dotted} takes free text"


@pytest.mark.parametrize("dotted", sorted(ATTACKS))
def test_the_issue_attacks_are_refused_naming_the_key_and_the_list(operator, dotted):
    with pytest.raises(ForbiddenParam, match=rf"key '{re.escape(dotted)}' is refused: .*Allowed keys: {ALLOW_LIST_DOC}"):
        to_overrides({"overrides": {dotted: ATTACKS[dotted]}}, "r1", operator)
    with pytest.raises(jsonschema.ValidationError, match=re.escape(dotted)):
        jsonschema.validate({dotted: ATTACKS[dotted]}, overrides_schema())


def test_form_fields_and_unknown_keys_are_refused_with_their_reason(operator):
    with pytest.raises(ForbiddenParam, match="own form field 'epochs'"):
        to_overrides({"overrides": {"train.epochs": 3}}, "r1", operator)
    with pytest.raises(ForbiddenParam, match="no such setting"):
        to_overrides({"overrides": {"train.nope": 3}}, "r1", operator)
    with pytest.raises(ForbiddenParam, match="must be an object"):
        to_overrides({"overrides": ["train.seed=3"]}, "r1", operator)


@pytest.mark.parametrize("dotted, value", [
    ("train.seed", "3"), ("train.epochs", 0), ("augment.max_new_tokens", 1), ("augment.prompts.item", "../x"),
    ("train.device", "cuda; sh"), ("train.ks", "10"), ("model.fusion", "concat"), ("features.snapshot_every", "1D && x"),
])
def test_wrong_values_of_safe_keys_are_refused_in_both_places(operator, dotted, value):
    with pytest.raises(ForbiddenParam, match=re.escape(dotted) if dotted != "train.epochs" else "form field"):
        to_overrides({"overrides": {dotted: value}}, "r1", operator)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({dotted: value}, overrides_schema())


def test_safe_overrides_and_form_fields_become_settings(operator):
    params = {"lake_root": "var/lake", "epochs": 4, "augment_backend": "template", "augment_budget": 3,
              "overrides": {"train.seed": 5, "embed.encoder.type": "onnx", "embed.encoder.quantization": "blockwise_int8",
                            "augment.interactions.max_users_per_run": 0, "train.cold_boost_reference": 0.1}}
    jsonschema.validate(params["overrides"], overrides_schema())
    overrides = to_overrides(params, "r1", operator)
    settings = load_settings(overrides)
    assert settings.run_id == "r1" and settings.train.epochs == 4 and settings.train.seed == 5
    assert settings.augment.backend.type == "template" and settings.augment.max_llm_prompts_per_run == 3
    assert settings.embed.encoder.type == "onnx" and settings.embed.encoder.quantization == "blockwise_int8"
    assert settings.augment.interactions.max_users_per_run == 0
    assert Path(settings.lake_root) == Path(operator_checkout()) / "var" / "lake"


def operator_checkout() -> str:
    import os

    return os.path.realpath(os.environ["RECAUG_PROJECT_ROOT"])


def test_lake_root_stays_inside_the_allowed_roots(operator, tmp_path, monkeypatch):
    checkout = Path(operator_checkout())
    assert check_lake_root("var/lake", operator.lake_root) == str(checkout / "var" / "lake")
    assert check_lake_root(operator.lake_root, operator.lake_root)  # the operator's own lake
    for outside in ("/etc", "var/../../x", str(checkout), "s3://bucket/lake", "varnish/lake"):
        with pytest.raises(ForbiddenParam, match="lake_root"):
            check_lake_root(outside, operator.lake_root)
    (checkout / "var" / "escape").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ForbiddenParam, match="outside the allowed lake roots"):
        check_lake_root("var/escape/lake", operator.lake_root)

    monkeypatch.setenv("RECAUG_ALLOWED_LAKE_ROOTS", f"{tmp_path / 'shared'},s3://bucket/lakes")
    assert check_lake_root(str(tmp_path / "shared" / "a"), operator.lake_root) == str(tmp_path / "shared" / "a")
    assert check_lake_root("s3://bucket/lakes/prod", operator.lake_root) == "s3://bucket/lakes/prod"
    with pytest.raises(ForbiddenParam):
        check_lake_root("s3://bucket/lakes-other", operator.lake_root)


@pytest.mark.parametrize("value, allowed", [
    ("var/lake", True), ("var", True), ("var/demo/lake", True), ("/etc", False), ("var/../x", False),
    ("var/a/../../x", False), ("varnish", False), ("", False), ("relative/elsewhere", False),
])
def test_the_lake_root_pattern_agrees_with_the_task_check(operator, value, allowed):
    schema = form_schemas(operator)["lake_root"]
    try:
        jsonschema.validate(value, schema)
        in_schema = True
    except jsonschema.ValidationError:
        in_schema = False
    try:
        check_lake_root(value, operator.lake_root) if value else None
        in_check = bool(value)
    except ForbiddenParam:
        in_check = False
    assert in_schema is allowed and in_check is allowed


def test_openai_from_the_form_only_when_the_operator_configured_an_endpoint(operator):
    assert "openai" not in form_schemas(operator)["augment_backend"]["enum"]
    with pytest.raises(ForbiddenParam, match="configured by the operator"):
        to_overrides({"augment_backend": "openai"}, "r1", operator)

    configured = load_settings({"lake_root": operator.lake_root, "augment": {"backend": {
        "type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "OPERATOR_KEY"}}})
    assert "openai" in form_schemas(configured)["augment_backend"]["enum"]
    overrides = to_overrides({"augment_backend": "openai", "overrides": {"augment.max_new_tokens": 64}}, "r1", configured)
    assert overrides["augment"] == {"backend": {"type": "openai"}, "max_new_tokens": 64}  # the endpoint stays the operator's


def test_the_documented_list_is_the_enforced_list():
    text = (ROOT / ALLOW_LIST_DOC).read_text()
    allowed = text.split("## Allowed keys", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)+)`", allowed))
    assert documented == set(SAFE_OVERRIDES)
