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


def native_half_precision(device: str) -> str | None:
    """The 16-bit float type `device` computes natively ('bf16' or 'fp16'), or None.

    CPUs with AVX512-BF16 or AMX run bf16 matrix products at about twice the fp32 rate
    (measured ~3x end to end for MiniLM on an AVX512-BF16 EPYC); elsewhere bf16 on the CPU
    is emulated and slower than fp32.
    """
    import torch

    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
        return "bf16"
    return None


def onnx_providers(device: str) -> list[str]:
    """onnxruntime execution providers for a device, CPU always last as the safety net."""
    import onnxruntime as ort

    if device == "cuda":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        log.warning("CUDA is present but this onnxruntime build has no CUDAExecutionProvider; running on CPU")
    return ["CPUExecutionProvider"]
