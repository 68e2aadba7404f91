"""recaug.embed: text encoders (torch, onnxruntime, OpenVINO), a content-hash cache and the embedding job.

`encode_texts(texts, config=None)` is the simple API; `job.run_embedding` / `job.merge_shards`
are the pipeline stage.
"""

from __future__ import annotations

from recaug.embed.config import EmbedConfig
from recaug.embed.encoder import Encoder, create_encoder, encode_texts

__all__ = ["EmbedConfig", "Encoder", "create_encoder", "encode_texts"]
