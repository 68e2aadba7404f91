"""The OpenVINO encoder: the exported model compiled by OpenVINO for the CPU.

The graph is traced over SDPA attention and left unfused (OpenVINO fuses attention,
LayerNorm and GELU itself when compiling). The int8 variant stores each weight as int8
per output channel behind a DequantizeLinear; OpenVINO then quantises the activations at
run time, per row in groups of DYNAMIC_QUANTIZATION_GROUP, and multiplies in int8 (VNNI,
AMX): no calibration data, and a text's vector does not depend on its batch mates.
What is not int8 runs in bf16 on CPUs that compute it natively.

The model is read from the ONNX file by OpenVINO's runtime (`Core.read_model`), not
converted with `openvino.convert_model` or quantised with NNCF: those tools send usage
telemetry to Intel unless the user opted out; the runtime does not. Nothing leaves the
machine.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from recaug import io
from recaug.embed.batching import padded_batch, token_budget_batches
from recaug.embed.calibration import calibration_hash
from recaug.embed.config import OpenVinoEncoderConfig
from recaug.embed.device import select_device
from recaug.embed.encoder import Encoder
from recaug.embed.exported import (
    EXPORT_META,
    TOKENIZER_FILE,
    artifact_dir,
    checked_variant,
    matches_torch,
    reference_encoder,
    torch_fallback,
    write_export,
)
from recaug.embed.model_files import model_hash, resolve_model_path
from recaug.embed.sentence_transformers_encoder import encoder_version

log = logging.getLogger(__name__)

SDPA_FILE = "model.sdpa.onnx"
INT8_FILE = "model.int8-weights.onnx"
EXPORTER = "torchscript-sdpa"  # part of the cache key: a new export recipe never reuses an old graph
# Activation groups of 64 of the 384 inputs: min cosine 0.9957 on the calibration texts,
# ~1.12x the speed of float weights; groups of 128 were ~3% faster at 0.9936, whole rows
# slower at 0.985, groups of 32 slower at 0.9969.
DYNAMIC_QUANTIZATION_GROUP = 64


class OpenVinoEncoder(Encoder):
    """A compiled OpenVINO model fed length-sorted, token-budget batches through an
    asynchronous request queue, one stream per CPU thread."""

    backend = "openvino"

    def __init__(self, model_file: Path, tokenizer_file: Path, *, name: str, version: str, dim: int,
                 max_seq_length: int, max_batch_tokens: int, precision: str, int8: bool, threads: int | None = None):
        import openvino as ov
        from tokenizers import Tokenizer

        core = ov.Core()
        streams = threads or os.cpu_count() or 1
        properties = {
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            # One stream per thread, one thread each: short texts make small matrix products,
            # where splitting one batch over threads mostly waits on itself (~8% here).
            "PERFORMANCE_HINT": "THROUGHPUT",
            "NUM_STREAMS": streams,
            "INFERENCE_NUM_THREADS": streams,
            "DYNAMIC_QUANTIZATION_GROUP_SIZE": DYNAMIC_QUANTIZATION_GROUP if int8 else 0,
        }
        self.compiled = core.compile_model(core.read_model(str(model_file)), "CPU", properties)
        # Two requests per stream: one runs while the next batch is padded.
        self.requests = max(2 * streams, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.name, self.version, self.dim = name, version, dim
        self.max_batch_tokens = max_batch_tokens

    def _encode_distinct(self, texts: list[str], batch_size: int) -> np.ndarray:
        import openvino as ov

        encodings = self.tokenizer.encode_batch(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        queue = ov.AsyncInferQueue(self.compiled, self.requests)

        def store(request, idx: np.ndarray) -> None:
            out[idx] = request.get_output_tensor(0).data

        queue.set_callback(store)
        lengths = [len(e.ids) for e in encodings]
        for idx in token_budget_batches(lengths, self.max_batch_tokens, batch_size):
            queue.start_async(padded_batch(encodings, idx), idx)
        queue.wait_all()
        return out


def load_openvino_encoder(config: OpenVinoEncoderConfig, fallback: Callable[[], Encoder] | None = None) -> Encoder:
    """The OpenVINO encoder when it can run here and matches torch on the calibration texts;
    otherwise `fallback()` (default: the torch encoder), with the reason logged."""
    from filelock import FileLock

    fallback = fallback or (lambda: torch_fallback(config))
    if select_device(config.device) != "cpu":
        log.info("OpenVINO runs on the CPU; a CUDA device is present, so the torch encoder is used")
        return fallback()
    try:
        openvino_version = importlib.metadata.version("openvino")
    except importlib.metadata.PackageNotFoundError:
        log.warning("the openvino package is not installed; using another encoder")
        return fallback()
    path = resolve_model_path(config.model_path)
    source_hash = model_hash(path)
    precision = _float_precision(config.precision)
    int8 = config.quantization == "int8"
    variant = f"openvino-{'int8w-' if int8 else ''}{precision}"
    artifact = artifact_dir(config, source_hash, str(config.opset), EXPORTER)
    with FileLock(str(artifact) + ".lock"):  # one process exports and checks; others reuse its result
        try:
            if not (artifact / EXPORT_META).is_file():
                _export(artifact, config)
            meta = io.read_json(artifact / EXPORT_META)
            model_file = artifact / (INT8_FILE if int8 else SDPA_FILE)
            encoder = OpenVinoEncoder(
                model_file, artifact / TOKENIZER_FILE, name=config.model_name,
                version=encoder_version(source_hash, variant, config.max_seq_length), dim=int(meta["dim"]),
                max_seq_length=config.max_seq_length, max_batch_tokens=config.max_batch_tokens,
                precision=precision, int8=int8, threads=config.threads,
            )
            check = checked_variant(
                artifact / f"check.{variant}.json", {"calibration": calibration_hash(), "openvino": openvino_version},
                variant, candidate=lambda: encoder, reference=lambda: reference_encoder(config),
            )
        except Exception as exc:  # an exporter or runtime failure must not stop the job
            log.warning("OpenVINO encoder unavailable (%s: %s); using another encoder", type(exc).__name__, exc)
            return fallback()
    if not matches_torch("OpenVINO", variant, check, config.min_cosine):
        return fallback()
    log.info("encoder %s (%s) via OpenVINO %s; calibration min cosine %.4f", encoder.name, encoder.version,
             openvino_version, check["min_cosine"])
    return encoder


def _float_precision(setting: str) -> str:
    if setting != "auto":
        return setting
    from recaug.hardware import native_half_precision

    return "bf16" if native_half_precision("cpu") == "bf16" else "fp32"


def _export(artifact: Path, config: OpenVinoEncoderConfig) -> None:
    from recaug.embed.onnx_export import int8_weights_with_dequantize, trace_onnx

    log.info("exporting %s for OpenVINO (once per model and settings) -> %s", config.model_name, artifact)
    reference = reference_encoder(config)

    def write(staging: Path) -> dict:
        trace_onnx(reference.model, staging / SDPA_FILE, config.opset, attention="sdpa")
        compressed = int8_weights_with_dequantize(staging / SDPA_FILE, staging / INT8_FILE)
        log.info("stored %d weight matrices as int8 (per output channel) -> %s", compressed, INT8_FILE)
        return {"max_seq_length": config.max_seq_length, "opset": config.opset, "exporter": EXPORTER,
                "int8_weights": compressed}

    write_export(reference, artifact, write)
