"""What the machine's processors compute natively, decided at run time (never at import)."""

from __future__ import annotations


def native_half_precision(device: str) -> str | None:
    """The 16-bit float type `device` ('cpu' or 'cuda') computes natively: 'bf16', 'fp16' or None.

    CPUs with AVX512-BF16 or AMX run bf16 matrix products at about twice the fp32 rate
    (measured ~3x end to end for MiniLM inference and ~2x per training step of the
    recommender on an AVX512-BF16 EPYC); elsewhere bf16 on the CPU is emulated and slower
    than fp32.
    """
    import torch

    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported():
        return "bf16"
    return None
