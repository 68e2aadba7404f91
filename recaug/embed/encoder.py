"""The encoder interface and the factory that picks a backend from its config."""

from __future__ import annotations

import abc
import threading
from typing import Sequence

import numpy as np

from recaug.embed.config import (
    AutoEncoderConfig,
    EmbedConfig,
    EncoderConfig,
    OnnxEncoderConfig,
    OpenVinoEncoderConfig,
    SentenceTransformersEncoderConfig,
)
from recaug.embed.dedupe import unique_texts


class Encoder(abc.ABC):
    """Turns texts into L2-normalised float32 vectors of a fixed length.

    `name` and `version` are recorded with every embedding and key the cache: two
    encoders with the same pair must produce the same vectors (up to float noise).
    """

    name: str
    version: str
    dim: int
    backend: str

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """float32 array [len(texts), dim], rows in the order of `texts`; a repeated text
        is encoded once and its vector copied to every row that holds it."""
        texts = list(texts)
        if not texts:
            return self._empty()
        distinct, inverse = unique_texts(texts)
        vectors = self._encode_distinct(distinct, batch_size)
        return vectors if len(distinct) == len(texts) else vectors[inverse]

    @abc.abstractmethod
    def _encode_distinct(self, texts: list[str], batch_size: int) -> np.ndarray:
        """float32 [len(texts), dim] for non-empty, duplicate-free `texts`; `batch_size` caps rows per batch."""

    def describe(self) -> dict[str, object]:
        return {"encoder": self.name, "encoder_version": self.version, "backend": self.backend, "dim": self.dim}

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dim), dtype=np.float32)


def create_encoder(config: EncoderConfig) -> Encoder:
    """Build the configured backend. A faster variant that does not match the fp32 torch
    encoder on the calibration texts is replaced by a slower one (the reason is logged)."""
    if isinstance(config, AutoEncoderConfig):
        return _auto_encoder(config)
    if isinstance(config, SentenceTransformersEncoderConfig):
        from recaug.embed.sentence_transformers_encoder import SentenceTransformersEncoder

        return SentenceTransformersEncoder(config)
    if isinstance(config, OnnxEncoderConfig):
        from recaug.embed.onnx_encoder import load_onnx_encoder

        return load_onnx_encoder(config)
    if isinstance(config, OpenVinoEncoderConfig):
        from recaug.embed.openvino_encoder import load_openvino_encoder

        return load_openvino_encoder(config)
    raise TypeError(f"unknown encoder config {type(config).__name__}")


def _auto_encoder(config: AutoEncoderConfig) -> Encoder:
    """On the CPU, OpenVINO with int8 weights; on CUDA, or when that misses the calibration
    check, torch in 16-bit where the device computes it natively, else (or when 16-bit
    misses the check) the fused fp32 ONNX graph, which itself falls back to torch fp32."""
    from recaug.embed.device import select_device

    shared = config.model_dump(exclude={"type", "cache_dir"})
    device = select_device(config.device)

    def half_precision_or_onnx() -> Encoder:
        from recaug.hardware import native_half_precision

        precision = native_half_precision(device)
        if precision is not None:
            from recaug.embed.sentence_transformers_encoder import SentenceTransformersEncoder

            encoder = SentenceTransformersEncoder(SentenceTransformersEncoderConfig(**shared, precision=precision))
            if encoder.precision == precision:
                return encoder
        from recaug.embed.onnx_encoder import load_onnx_encoder

        return load_onnx_encoder(OnnxEncoderConfig(**shared, cache_dir=config.cache_dir))

    from recaug.embed.openvino_encoder import load_openvino_encoder

    # OpenVINO hands a CUDA device, or a variant that misses the check, to the fallback.
    return load_openvino_encoder(OpenVinoEncoderConfig(**shared, cache_dir=config.cache_dir),
                                 fallback=half_precision_or_onnx)


_ENCODERS: dict[str, Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def cached_encoder(config: EncoderConfig) -> Encoder:
    """One encoder per distinct config per process (loading a model takes seconds)."""
    key = config.model_dump_json()
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = create_encoder(config)
        return _ENCODERS[key]


def encode_texts(texts: list[str], config: EmbedConfig | None = None) -> np.ndarray:
    """Embed texts with the configured encoder: float32 [len(texts), dim], unit length.

    The simple entry point for other stages and benchmarks; the encoder is loaded once
    per process. For cached, resumable embedding of lake tables use `recaug.embed.job`.
    """
    config = config or EmbedConfig()
    encoder = cached_encoder(config.encoder)
    return encoder.encode(list(texts), batch_size=config.batch_size)
