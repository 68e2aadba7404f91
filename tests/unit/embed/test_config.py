from __future__ import annotations

import pytest
from pydantic import ValidationError

from recaug.embed.config import EmbedConfig, OnnxEncoderConfig, SentenceTransformersEncoderConfig


def test_default_backend_is_onnx_and_partial_overrides_keep_it(settings):
    from recaug.settings import load_settings

    assert isinstance(settings.embed.encoder, OnnxEncoderConfig)
    s = load_settings(["embed.encoder.threads=2", f"lake_root={settings.lake_root}"])
    assert isinstance(s.embed.encoder, OnnxEncoderConfig) and s.embed.encoder.threads == 2


def test_backend_is_chosen_by_type(settings, monkeypatch):
    from recaug.settings import load_settings

    s = load_settings(["embed.encoder.type=sentence_transformers", "embed.batch_size=16"])
    assert isinstance(s.embed.encoder, SentenceTransformersEncoderConfig)
    assert s.embed.batch_size == 16
    monkeypatch.setenv("RECAUG_EMBED__ENCODER__QUANTIZATION", "none")
    assert load_settings().embed.encoder.quantization == "none"


def test_unknown_backend_and_bad_values_are_refused():
    with pytest.raises(ValidationError):
        EmbedConfig(encoder={"type": "word2vec"})
    with pytest.raises(ValidationError):
        EmbedConfig(encoder={"type": "onnx", "min_cosine": 1.5})
