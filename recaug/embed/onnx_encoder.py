"""The ONNX encoder: the exported (optionally int8) model run by onnxruntime.

Exported models live in a cache folder keyed by the source model's hash, the export
settings and the torch version, so the export (~15 s) happens once per machine. Each
numeric variant (fp32, int8) is compared with the torch encoder on the calibration
texts; the measured cosine is stored beside it and the variant is used only while it
meets `min_cosine`. Otherwise, or when export fails, the torch encoder is used.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from recaug import io
from recaug.embed.batching import padded_batch, token_budget_batches
from recaug.embed.calibration import calibration_hash
from recaug.embed.config import OnnxEncoderConfig
from recaug.embed.device import onnx_providers, select_device
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

FP32_FILE = "model.fp32.onnx"
EXPORTER = "torchscript-fused"  # part of the cache key: a new export recipe never reuses an old graph


class OnnxEncoder(Encoder):
    """onnxruntime session over an exported encoder; pads each batch to its longest text.

    On CPU, batches run side by side on `threads` workers with one onnxruntime thread
    each: item texts are short, and at a few dozen tokens per row the per-operator
    synchronisation of intra-op threading costs more than it parallelises. On CUDA one
    worker feeds the device.
    """

    backend = "onnx"

    def __init__(self, model_file: Path, tokenizer_file: Path, *, name: str, version: str, dim: int,
                 max_seq_length: int, max_batch_tokens: int, device: str = "cpu", threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.workers = 1 if device == "cuda" else (threads or os.cpu_count() or 1)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1 if self.workers > 1 else (threads or 0)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(model_file), options, providers=onnx_providers(device))
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.name, self.version, self.dim = name, version, dim
        self.model_file = model_file
        self.max_batch_tokens = max_batch_tokens

    def _encode_distinct(self, texts: list[str], batch_size: int) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Few texts: smaller batches, so that every worker has one.
        batch_size = max(1, min(batch_size, -(-len(texts) // self.workers)))

        def run(idx: np.ndarray) -> None:
            (vectors,) = self.session.run(None, padded_batch(encodings, idx))
            out[idx] = vectors

        batches = list(token_budget_batches(lengths, self.max_batch_tokens, batch_size))
        if self.workers == 1:
            for idx in batches:
                run(idx)
        else:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="onnx-encode") as pool:
                list(pool.map(run, batches))  # list(): re-raises a worker's exception here
        return out


def variant_name(config: OnnxEncoderConfig) -> str:
    """Names the numeric variant; part of the encoder version and of the model file name."""
    if config.quantization == "none":
        return "onnx-fp32"
    if config.quantization == "blockwise_int8":
        return "onnx-int8block"
    return "onnx-int8dyn-all" if config.quantize_ffn_output else "onnx-int8dyn"


def variant_file(artifact: Path, variant: str) -> Path:
    return artifact / (FP32_FILE if variant == "onnx-fp32" else f"model.{variant}.onnx")


def load_onnx_encoder(config: OnnxEncoderConfig) -> Encoder:
    """The ONNX encoder when it matches torch on the calibration texts, else the torch one."""
    from filelock import FileLock

    path = resolve_model_path(config.model_path)
    source_hash = model_hash(path)
    variant = variant_name(config)
    artifact = artifact_dir(config, source_hash, str(config.opset), EXPORTER, importlib.metadata.version("onnxruntime"))
    # One process exports and checks; shards started together wait and reuse its result.
    with FileLock(str(artifact) + ".lock"):
        try:
            check = _prepare(config, artifact, variant)
        except Exception as exc:  # an exporter or runtime failure must not stop the job
            log.warning("ONNX encoder unavailable (%s: %s); falling back to the torch encoder",
                        type(exc).__name__, exc)
            return torch_fallback(config)
    if not matches_torch("ONNX", variant, check, config.min_cosine):
        return torch_fallback(config)
    meta = io.read_json(artifact / EXPORT_META)
    encoder = OnnxEncoder(
        variant_file(artifact, variant),
        artifact / TOKENIZER_FILE,
        name=config.model_name,
        version=encoder_version(source_hash, variant, config.max_seq_length),
        dim=int(meta["dim"]),
        max_seq_length=config.max_seq_length,
        max_batch_tokens=config.max_batch_tokens,
        device=select_device(config.device),
        threads=config.threads,
    )
    log.info("encoder %s (%s) via onnxruntime; calibration min cosine %.4f", encoder.name, encoder.version,
             check["min_cosine"])
    return encoder


def _prepare(config: OnnxEncoderConfig, artifact: Path, variant: str) -> dict:
    """Export, quantise and check as needed; returns the stored check of `variant`."""
    import onnxruntime

    reference = None
    if not (artifact / EXPORT_META).is_file():
        reference = reference_encoder(config)
        _export(reference, artifact, config)
    meta = io.read_json(artifact / EXPORT_META)
    model_file = variant_file(artifact, variant)
    if not model_file.is_file():
        _quantize(config, artifact, model_file, meta)
    return checked_variant(
        artifact / f"check.{variant}.json", {"calibration": calibration_hash(), "onnxruntime": onnxruntime.__version__},
        variant,
        candidate=lambda: OnnxEncoder(
            model_file, artifact / TOKENIZER_FILE, name=config.model_name, version=variant, dim=int(meta["dim"]),
            max_seq_length=config.max_seq_length, max_batch_tokens=config.max_batch_tokens, device="cpu",
            threads=config.threads,
        ),
        reference=lambda: reference or reference_encoder(config),
    )


def _quantize(config: OnnxEncoderConfig, artifact: Path, model_file: Path, meta: dict) -> None:
    from recaug.embed.onnx_export import ffn_output_matmuls, quantize_blockwise_int8, quantize_dynamic_int8

    with io.atomic_local_path(model_file, suffix=".onnx") as tmp:
        if config.quantization == "blockwise_int8":
            count, kept = quantize_blockwise_int8(artifact / FP32_FILE, tmp), 0
        else:
            keep = [] if config.quantize_ffn_output else ffn_output_matmuls(
                artifact / FP32_FILE, meta["intermediate_size"], meta["hidden_size"])
            count, kept = quantize_dynamic_int8(artifact / FP32_FILE, tmp, keep_fp32=keep), len(keep)
    log.info("%s: quantised %d weight products (%d kept in fp32) -> %s", config.quantization, count, kept, model_file)


def _export(reference, artifact: Path, config: OnnxEncoderConfig) -> None:
    from recaug.embed.onnx_export import export_fp32

    log.info("exporting %s to ONNX (once per model and settings) -> %s", config.model_name, artifact)

    def write(staging: Path) -> dict:
        fused = export_fp32(reference.model, staging / FP32_FILE, config.opset)
        return {"max_seq_length": config.max_seq_length, "opset": config.opset, "exporter": EXPORTER, "fused": fused}

    write_export(reference, artifact, write)
