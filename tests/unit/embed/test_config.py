from __future__ import annotations

import pytest
from pydantic import ValidationError

from recaug.embed.config import AutoEncoderConfig, EmbedConfig, OnnxEncoderConfig, SentenceTransformersEncoderConfig


def test_default_backend_is_auto_and_partial_overrides_keep_it(settings):
    from recaug.settings import load_settings

    assert isinstance(settings.embed.encoder, AutoEncoderConfig)
    s = load_settings(["embed.encoder.threads=2", f"lake_root={settings.lake_root}"])
    assert isinstance(s.embed.encoder, AutoEncoderConfig) and s.embed.encoder.threads == 2


def test_a_field_of_another_backend_is_refused_not_ignored():
    with pytest.raises(ValidationError, match="quantization"):
        EmbedConfig(encoder={"quantization": "dynamic_int8"})  # the default backend is auto, not onnx
    with pytest.raises(ValidationError, match="precision"):
        EmbedConfig(encoder={"type": "onnx", "precision": "bf16"})
    assert EmbedConfig(encoder={"type": "onnx", "quantization": "dynamic_int8"}).encoder.quantization == "dynamic_int8"


def test_backend_is_chosen_by_type(settings, monkeypatch):
    from recaug.settings import load_settings

    s = load_settings(["embed.encoder.type=sentence_transformers", "embed.batch_size=16"])
    assert isinstance(s.embed.encoder, SentenceTransformersEncoderConfig)
    assert s.embed.batch_size == 16
    monkeypatch.setenv("RECAUG_EMBED__ENCODER__TYPE", "onnx")
    monkeypatch.setenv("RECAUG_EMBED__ENCODER__QUANTIZATION", "blockwise_int8")
    assert load_settings().embed.encoder.quantization == "blockwise_int8"


def test_unknown_backend_and_bad_values_are_refused():
    with pytest.raises(ValidationError):
        EmbedConfig(encoder={"type": "word2vec"})
    with pytest.raises(ValidationError):
        EmbedConfig(encoder={"type": "onnx", "min_cosine": 1.5})
    with pytest.raises(ValidationError):
        EmbedConfig(encoder={"type": "sentence_transformers", "precision": "int4"})
