"""The torch encoder: a sentence-transformers model as published (the reference), run in
fp32 or, where the device computes it natively, in a 16-bit float type."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from recaug.embed.batching import token_budget_batches
from recaug.embed.calibration import CALIBRATION_TEXTS, CHECK_BATCH_SIZE, compare_on_calibration
from recaug.embed.config import SentenceTransformersEncoderConfig
from recaug.embed.device import select_device
from recaug.embed.encoder import Encoder
from recaug.embed.model_files import model_hash, resolve_model_path
from recaug.hardware import native_half_precision

log = logging.getLogger(__name__)

TORCH_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def encoder_version(source_hash: str, variant: str, max_seq_length: int) -> str:
    """Version string recorded with embeddings: model files, numeric variant, truncation."""
    return f"{source_hash[:16]}-{variant}-len{max_seq_length}"


def resolve_precision(precision: str, device: str) -> str:
    """'auto' -> the device's native 16-bit type, else fp32; explicit choices are kept."""
    if precision != "auto":
        return precision
    return native_half_precision(device) or "fp32"


class SentenceTransformersEncoder(Encoder):
    """Runs the SentenceTransformer on CUDA (pinned host memory) or CPU, in fp32 or 16-bit.

    On CPU, batches run side by side on `threads` workers with one torch thread each (as
    the ONNX encoder does): for short item texts the per-operator synchronisation of
    intra-op threading costs more than it parallelises, most of all on a busy machine
    (measured 2.4x plain bf16 `encode` with 2 threads at load average ~12 on 2 cores).

    A 16-bit precision is checked against this model's own fp32 vectors on the calibration
    texts when the encoder loads (~1 s); below `min_cosine` the encoder stays in fp32.
    """

    backend = "sentence_transformers"

    def __init__(self, config: SentenceTransformersEncoderConfig):
        import torch

        self.path = resolve_model_path(config.model_path)
        self.device = select_device(config.device)
        self.workers = 1 if self.device == "cuda" else (config.threads or os.cpu_count() or 1)
        if config.threads and self.workers == 1:
            torch.set_num_threads(config.threads)
        self.max_seq_length = config.max_seq_length
        self.max_batch_tokens = config.max_batch_tokens
        self.model = self._load()
        self.dim = int(self.model.get_embedding_dimension())
        self.precision = "fp32"
        self.check: dict | None = None
        wanted = resolve_precision(config.precision, self.device)
        if wanted != "fp32":
            self._use_half_precision(wanted, config.min_cosine)
        self.name = config.model_name
        self.source_hash = model_hash(self.path)
        variant = "torch" if self.precision == "fp32" else f"torch-{self.precision}"
        self.version = encoder_version(self.source_hash, variant, config.max_seq_length)
        log.info("encoder %s (%s) on %s in %s, dim %d", self.name, self.version, self.device, self.precision, self.dim)

    def _load(self):
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(self.path), device=self.device)
        model.max_seq_length = self.max_seq_length
        return model.eval()

    def _use_half_precision(self, precision: str, min_cosine: float) -> None:
        import torch

        texts = list(CALIBRATION_TEXTS)
        reference = self.encode(texts, CHECK_BATCH_SIZE)
        self.model.to(getattr(torch, TORCH_DTYPES[precision]))
        self.check = {"precision": precision, **compare_on_calibration(self.encode(texts, CHECK_BATCH_SIZE), reference)}
        if self.check["min_cosine"] < min_cosine:
            log.warning("torch encoder in %s does not match fp32: min cosine %.4f < %.4f on %d calibration texts "
                        "(text: %r); using fp32", precision, self.check["min_cosine"], min_cosine,
                        self.check["texts"], self.check["worst_text"][:80])
            self.model = self._load()  # reload: casting back would keep the rounded weights
            return
        self.precision = precision

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        ids = self.model.tokenizer(list(texts), truncation=True, max_length=self.max_seq_length)["input_ids"]
        return [len(row) for row in ids]

    def _encode_distinct(self, texts: list[str], batch_size: int) -> np.ndarray:
        import torch

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Few texts: smaller batches, so that every worker has one.
        batch_size = max(1, min(batch_size, -(-len(texts) // self.workers)))
        batches = list(token_budget_batches(self.token_lengths(texts), self.max_batch_tokens, batch_size))
        # Tokenised here, one batch after another: a fast tokenizer refuses concurrent calls.
        inputs = [(idx, self.model.preprocess([texts[i] for i in idx])) for idx in batches]

        def run(idx: np.ndarray, features: dict) -> None:
            on_gpu = self.device == "cuda"
            with torch.inference_mode():  # thread-local: entered in each worker
                features = {
                    key: value.pin_memory().to(self.device, non_blocking=True) if on_gpu else value
                    for key, value in features.items()
                    if isinstance(value, torch.Tensor)
                }
                vectors = self.model(features)["sentence_embedding"].float()
                out[idx] = torch.nn.functional.normalize(vectors, p=2, dim=1).cpu().numpy()

        if self.workers == 1:
            for idx, features in inputs:
                run(idx, features)
            return out
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="torch-encode") as pool:
                list(pool.map(lambda item: run(*item), inputs))  # list(): re-raises a worker's exception here
        finally:
            torch.set_num_threads(previous)
        return out
