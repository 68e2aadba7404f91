from __future__ import annotations

import logging

import numpy as np
import pytest

from recaug.embed.cache import EmbeddingCache, cache_key


def _vectors(n, dim=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def test_roundtrip_is_exact_and_missing_keys_are_absent(tmp_path):
    cache = EmbeddingCache(str(tmp_path), "enc", "v1", dim=4)
    keys = [cache_key(t, "enc", "v1") for t in ("a", "b", "c")]
    vectors = _vectors(3)
    cache.put_many(keys[:2], vectors[:2])
    found = cache.get_many(keys)
    assert set(found) == set(keys[:2])
    np.testing.assert_array_equal(found[keys[1]], vectors[1])
    assert found[keys[0]].dtype == np.float32


def test_segments_accumulate_and_versions_are_isolated(tmp_path):
    v1 = EmbeddingCache(str(tmp_path), "enc", "v1", dim=4)
    v2 = EmbeddingCache(str(tmp_path), "enc", "v2", dim=4)
    k1 = [cache_key("x", "enc", "v1")]
    k2 = [cache_key("y", "enc", "v1")]
    v1.put_many(k1, _vectors(1, seed=1))
    v1.put_many(k2, _vectors(1, seed=2))
    assert set(v1.get_many(k1 + k2)) == set(k1 + k2)
    assert v2.get_many(k1 + k2) == {}
    assert cache_key("x", "enc", "v1") != cache_key("x", "enc", "v2")


def test_unreadable_segments_and_temp_files_are_skipped(tmp_path, caplog):
    cache = EmbeddingCache(str(tmp_path), "enc", "v1", dim=4)
    keys = [cache_key("a", "enc", "v1")]
    url = cache.put_many(keys, _vectors(1))
    folder = tmp_path / url.rsplit("/", 2)[-2]
    (folder / ".seg-tmp.parquet.tmp").write_bytes(b"half written")
    (folder / "seg-0000broken.parquet").write_bytes(b"not parquet")
    with caplog.at_level(logging.WARNING):
        assert set(cache.get_many(keys)) == set(keys)
    assert "seg-0000broken.parquet" in caplog.text


def test_shape_mismatch_is_refused(tmp_path):
    cache = EmbeddingCache(str(tmp_path), "enc", "v1", dim=4)
    with pytest.raises(ValueError, match="shape"):
        cache.put_many(["k1", "k2"], _vectors(1))
