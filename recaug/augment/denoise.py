"""Denoising of augmented interactions (LLMRec, WSDM 2024, section 3.3).

Two filters: before training, augmented pairs below a confidence threshold are
dropped; during training, `prune_by_loss` drops the highest-loss fraction of the
augmented samples of each batch (they are the ones most likely to be noise), while
observed samples are always kept.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def filter_by_confidence(augmented: "pd.DataFrame", min_confidence: float) -> "pd.DataFrame":
    """Rows whose `confidence` is at least `min_confidence` (NaN confidence is dropped)."""
    keep = augmented["confidence"].ge(min_confidence)
    return augmented[keep].reset_index(drop=True)


def prune_by_loss(losses, is_augmented, rate: float):
    """Keep-mask for one batch: False for the `floor(rate * n_augmented)`
    augmented samples with the highest loss, True everywhere else.

    `losses` and `is_augmented` are 1-D and of equal length, both numpy arrays or both
    torch tensors (the mask comes back in the same kind; no gradient flows through it).
    """
    if not 0 <= rate < 1:
        raise ValueError(f"prune rate must be in [0, 1), got {rate}")
    if len(losses) != len(is_augmented):
        raise ValueError(f"losses ({len(losses)}) and is_augmented ({len(is_augmented)}) differ in length")
    if _is_tensor(losses):
        import torch

        augmented = is_augmented.to(torch.bool)
        n_drop = math.floor(rate * int(augmented.sum()))
        keep = torch.ones_like(augmented)
        if n_drop:
            masked = torch.where(augmented, losses.detach(), torch.full_like(losses.detach(), -math.inf))
            keep[torch.topk(masked, n_drop).indices] = False
        return keep
    import numpy as np

    losses = np.asarray(losses, dtype=np.float64)
    augmented = np.asarray(is_augmented, dtype=bool)
    n_drop = math.floor(rate * int(augmented.sum()))
    keep = np.ones(len(losses), dtype=bool)
    if n_drop:
        masked = np.where(augmented, losses, -np.inf)
        keep[np.argsort(-masked, kind="stable")[:n_drop]] = False
    return keep


def _is_tensor(value) -> bool:
    return type(value).__module__.startswith("torch")
