"""The torch encoder: a sentence-transformers model as published (the reference)."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from recaug.embed.batching import length_sorted_batches
from recaug.embed.config import EncoderSourceConfig
from recaug.embed.device import select_device
from recaug.embed.encoder import Encoder
from recaug.embed.model_files import model_hash, resolve_model_path

log = logging.getLogger(__name__)


def encoder_version(source_hash: str, variant: str, max_seq_length: int) -> str:
    """Version string recorded with embeddings: model files, numeric variant, truncation."""
    return f"{source_hash[:16]}-{variant}-len{max_seq_length}"


class SentenceTransformersEncoder(Encoder):
    """Runs the SentenceTransformer on CUDA (fp16, pinned host memory) or CPU (fp32)."""

    backend = "sentence_transformers"

    def __init__(self, config: EncoderSourceConfig):
        import torch
        from sentence_transformers import SentenceTransformer

        self.path = resolve_model_path(config.model_path)
        self.device = select_device(config.device)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.model = SentenceTransformer(str(self.path), device=self.device)
        self.model.max_seq_length = config.max_seq_length
        if self.device == "cuda":
            self.model.half()
        self.model.eval()
        self.name = config.model_name
        self.source_hash = model_hash(self.path)
        self.version = encoder_version(self.source_hash, "torch", config.max_seq_length)
        self.dim = int(self.model.get_embedding_dimension())
        self.max_seq_length = config.max_seq_length
        log.info("encoder %s (%s) on %s, dim %d", self.name, self.version, self.device, self.dim)

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        ids = self.model.tokenizer(list(texts), truncation=True, max_length=self.max_seq_length)["input_ids"]
        return [len(row) for row in ids]

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        import torch

        texts = list(texts)
        if not texts:
            return self._empty()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        on_gpu = self.device == "cuda"
        with torch.inference_mode():
            for idx in length_sorted_batches(self.token_lengths(texts), batch_size):
                features = self.model.preprocess([texts[i] for i in idx])
                features = {
                    key: value.pin_memory().to(self.device, non_blocking=True) if on_gpu else value
                    for key, value in features.items()
                    if isinstance(value, torch.Tensor)
                }
                vectors = self.model(features)["sentence_embedding"].float()
                vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
                out[idx] = vectors.cpu().numpy()
        return out
