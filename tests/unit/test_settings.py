from __future__ import annotations

import pytest
import yaml

from recaug.settings import load_settings, parse_overrides


def test_precedence_defaults_params_env_overrides(tmp_path, monkeypatch):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {"epochs": 5, "seed": 1}, "lake_root": "/from/params"}))
    monkeypatch.setenv("RECAUG_PARAMS", str(params))
    monkeypatch.delenv("RECAUG_LAKE_ROOT", raising=False)
    s = load_settings()
    assert (s.train.epochs, s.train.seed, s.lake_root) == (5, 1, "/from/params")

    monkeypatch.setenv("RECAUG_TRAIN__EPOCHS", "7")
    s = load_settings()
    assert (s.train.epochs, s.train.seed) == (7, 1)  # env beats params, params kept elsewhere

    s = load_settings(["train.epochs=9"])
    assert (s.train.epochs, s.train.seed) == (9, 1)  # explicit override beats env


def test_overrides_parse_nested_yaml_values():
    assert parse_overrides(["a.b.c=3", "a.d=true", "e=x"]) == {"a": {"b": {"c": 3}, "d": True}, "e": "x"}
    with pytest.raises(ValueError, match="section.key=value"):
        parse_overrides(["nonsense"])


def test_unknown_setting_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("RECAUG_PARAMS", str(tmp_path / "none.yaml"))
    with pytest.raises(Exception, match="trian"):
        load_settings({"trian": {"epochs": 1}})


def test_lake_accepts_fsspec_urls(settings):
    from recaug.lake import Lake

    lake = Lake.at("memory://bucket/lake")
    assert lake.url("raw", "b1") == "memory://bucket/lake/raw/b1"
    assert not lake.is_local
    assert settings.lake.is_local
