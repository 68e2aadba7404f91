"""Deterministic assignment of ids to shards (by hash, so it survives catalogue growth)."""

from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np


def shard_of(entity_id: str, num_shards: int) -> int:
    digest = hashlib.blake2b(str(entity_id).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % num_shards


def shard_mask(ids: Iterable[str], shard: int, num_shards: int) -> np.ndarray:
    """Boolean mask of the ids that belong to `shard` of `num_shards`."""
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} of {num_shards}: need num_shards >= 1 and 0 <= shard < num_shards")
    return np.fromiter((shard_of(i, num_shards) == shard for i in ids), dtype=bool)
