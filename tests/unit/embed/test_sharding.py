from __future__ import annotations

import numpy as np
import pytest

from recaug.embed.sharding import shard_mask, shard_of


def test_shards_partition_the_ids_deterministically():
    ids = [f"item-{i}" for i in range(300)]
    masks = [shard_mask(ids, s, 3) for s in range(3)]
    assert (np.sum(masks, axis=0) == 1).all()  # every id in exactly one shard
    assert all(m.sum() > 50 for m in masks)  # hashing spreads them
    assert [shard_of(i, 3) for i in ids] == [shard_of(i, 3) for i in ids]
    assert shard_mask(ids, 0, 1).all()


@pytest.mark.parametrize("shard,num", [(3, 3), (-1, 2), (0, 0)])
def test_invalid_shard_is_refused(shard, num):
    with pytest.raises(ValueError):
        shard_mask(["a"], shard, num)
