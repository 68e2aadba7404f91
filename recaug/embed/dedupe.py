"""Encode each distinct text once: catalogues repeat texts (variants, bundles, empty fields)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def unique_texts(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(distinct texts in first-seen order, index of each input's text among them).

    `vectors_of_unique[inverse]` restores one row per input, in input order.
    """
    position: dict[str, int] = {}
    inverse = np.fromiter((position.setdefault(t, len(position)) for t in texts), dtype=np.int64, count=len(texts))
    return list(position), inverse
