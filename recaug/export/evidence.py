"""The served model's item-side evidence, written beside model.onnx for explanations.

Served scores are `user_vector @ item_matrix().T`. The gateway explains an item by the
history items whose rows of that same matrix are closest to it, weighted by recency the
way the model's text profile weighs events, and a cold item by the text channel's vectors
(the part of the score that carries items the model has barely seen). Written at export
from the torch model the ONNX graph is traced from, so these are the rows the served
scores multiply; reading it needs numpy only (the gateway never imports torch).
"""

from __future__ import annotations

import io as _bytes_io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recaug import io

if TYPE_CHECKING:
    import numpy as np

EVIDENCE_FILE = "explain_evidence.npz"
DEFAULT_DECAY = 0.5  # models without a text profile: an event k steps back weighs 0.5**k


@dataclass(frozen=True)
class ItemEvidence:
    vectors: "np.ndarray"  # [N+1, H'] float32 unit rows of the item matrix; row 0 (padding) is zero
    text: "np.ndarray | None"  # [N+1, D] unit text-channel vectors; None without a text channel
    train_count: "np.ndarray | None"  # [N+1] training events per item; None when the model does not keep them
    cold_count: int  # items with fewer training events than this are cold
    decay: float  # weight of a history event k steps before the newest: decay**k
    max_length: int  # newest events the model reads; older ones cannot support a score

    def is_cold(self, index: int) -> bool:
        return self.train_count is not None and int(self.train_count[index]) < self.cold_count


def evidence_arrays(model, params: dict[str, Any]) -> dict[str, "np.ndarray"]:
    """The arrays of an ItemEvidence from a torch model in eval mode and its params.json."""
    import numpy as np
    import torch

    with torch.inference_mode():
        vectors = _unit(model.item_matrix().float().numpy())
        channel = getattr(model, "text_channel", None)
        text = channel.reduced_text.float().numpy() if channel is not None else None
        items = getattr(model, "items", None)
        train_count = items.train_count.numpy().astype(np.int64) if items is not None else None
    model_config = params.get("model") or {}
    cold_count = int(channel.cold_count) if channel is not None and int(channel.cold_count) > 0 \
        else int((params.get("train") or {}).get("cold_item_threshold", 0))
    arrays = {
        "vectors": vectors.astype(np.float32),
        "cold_count": np.asarray(cold_count, dtype=np.int64),
        "decay": np.asarray(float(model_config.get("text_profile_decay", DEFAULT_DECAY)), dtype=np.float64),
        "max_length": np.asarray(int(model_config.get("max_length") or vectors.shape[0]), dtype=np.int64),
    }
    if text is not None and np.abs(text).sum() > 0:  # a channel without texts carries no evidence
        arrays["text"] = _unit(text).astype(np.float32)
    if train_count is not None:
        arrays["train_count"] = train_count
    return arrays


def write_evidence(artifact_dir: str, model, params: dict[str, Any]) -> str:
    import numpy as np

    buffer = _bytes_io.BytesIO()
    np.savez(buffer, **evidence_arrays(model, params))
    url = io.join(artifact_dir, EVIDENCE_FILE)
    io.write_bytes(url, buffer.getvalue())
    return url


def read_evidence(artifact_dir: str) -> ItemEvidence | None:
    """The evidence of an exported artifact; None when it was exported before evidence existed."""
    import numpy as np

    url = io.join(artifact_dir, EVIDENCE_FILE)
    if not io.exists(url):
        return None
    with np.load(_bytes_io.BytesIO(io.read_bytes(url)), allow_pickle=False) as arrays:
        return ItemEvidence(
            vectors=arrays["vectors"], text=arrays["text"] if "text" in arrays else None,
            train_count=arrays["train_count"] if "train_count" in arrays else None,
            cold_count=int(arrays["cold_count"]), decay=float(arrays["decay"]), max_length=int(arrays["max_length"]),
        )


def _unit(rows: "np.ndarray") -> "np.ndarray":
    import numpy as np

    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
