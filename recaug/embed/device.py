"""Picks where the encoder runs, at run time (never at import or install time)."""

from __future__ import annotations

import logging

from recaug.embed.errors import EmbedError

log = logging.getLogger(__name__)


def select_device(preference: str = "auto") -> str:
    """'cuda' when asked for or when a GPU is present under 'auto'; else 'cpu'."""
    import torch

    if preference == "cpu":
        return "cpu"
    available = torch.cuda.is_available()
    if preference == "cuda" and not available:
        raise EmbedError("embed.encoder.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return "cuda" if available else "cpu"


def onnx_providers(device: str) -> list[str]:
    """onnxruntime execution providers for a device, CPU always last as the safety net."""
    import onnxruntime as ort

    if device == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        log.warning("CUDA is present but this onnxruntime build has no CUDAExecutionProvider; running on CPU")
    return ["CPUExecutionProvider"]
