"""Sequence augmentations for training (CL4SRec-style crop, mask, reorder).

Pure functions on one user's history: `items` (and optionally `times`) are 1-D numpy
arrays, oldest first; randomness comes only from the `numpy.random.Generator` passed
in, so the same seed gives the same views. Reorder shuffles items inside a window but
keeps the timestamps in place, so time stays non-decreasing for time-aware models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def _window(length: int, ratio: float, rng: "np.random.Generator") -> tuple[int, int]:
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    size = max(1, int(round(length * ratio)))
    start = int(rng.integers(0, length - size + 1))
    return start, size


def crop(items: "np.ndarray", rng: "np.random.Generator", ratio: float = 0.6, times: "np.ndarray | None" = None):
    """A random contiguous sub-sequence of `ratio` of the length (at least one item)."""
    if len(items) == 0:
        return (items, times) if times is not None else items
    start, size = _window(len(items), ratio, rng)
    cut = slice(start, start + size)
    return (items[cut], times[cut]) if times is not None else items[cut]


def mask(items: "np.ndarray", rng: "np.random.Generator", ratio: float = 0.3, mask_id: int = 0) -> "np.ndarray":
    """A copy with `ratio` of the positions (chosen at random) replaced by `mask_id`."""
    import numpy as np

    if not 0 <= ratio <= 1:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    out = np.array(items, copy=True)
    n = int(round(len(out) * ratio))
    if n:
        out[rng.choice(len(out), size=n, replace=False)] = mask_id
    return out


def reorder(items: "np.ndarray", rng: "np.random.Generator", ratio: float = 0.3) -> "np.ndarray":
    """A copy with a random window of `ratio` of the length shuffled."""
    import numpy as np

    out = np.array(items, copy=True)
    if len(out) < 2:
        return out
    start, size = _window(len(out), ratio, rng)
    out[start:start + size] = rng.permutation(out[start:start + size])
    return out


def random_view(items: "np.ndarray", rng: "np.random.Generator", mask_id: int = 0,
                ratios: tuple[float, float, float] = (0.6, 0.3, 0.3)) -> "np.ndarray":
    """One of crop / mask / reorder chosen uniformly (a contrastive view of the history)."""
    choice = int(rng.integers(0, 3))
    if choice == 0:
        return crop(items, rng, ratios[0])
    if choice == 1:
        return mask(items, rng, ratios[1], mask_id)
    return reorder(items, rng, ratios[2])
