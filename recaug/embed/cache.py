"""Content-hash cache of embeddings: a text is encoded once per encoder version.

Entries live in immutable Parquet segments under `cache/embeddings/<encoder>/`, one
segment per write, named by the hash of its keys and written atomically (temp file +
rename, or a single object upload). Writers never touch existing files, so parallel
shards can share the cache; readers ignore temporary files.
"""

from __future__ import annotations

import logging
import re
from typing import Sequence

import numpy as np

from recaug import io

log = logging.getLogger(__name__)

SEGMENT_GLOB = "seg-*.parquet"


def cache_key(text: str, encoder_name: str, encoder_version: str) -> str:
    return io.content_hash("embedding-v1", encoder_name, encoder_version, text)


class EmbeddingCache:
    """Vectors by cache key for one encoder (name + version) under a lake folder or URL."""

    def __init__(self, root: str, encoder_name: str, encoder_version: str, dim: int):
        folder = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{encoder_name}-{encoder_version}")
        self.url = io.join(root, folder)
        self.dim = dim

    def _segments(self) -> list[str]:
        fs, path = io.filesystem(self.url)
        if not fs.exists(path):
            return []
        names = sorted(p for p in fs.glob(io.join(path, SEGMENT_GLOB)) if not p.rsplit("/", 1)[-1].startswith("."))
        return [fs.unstrip_protocol(p) for p in names]

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `keys` (missing keys are simply absent)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        wanted = set(keys)
        found: dict[str, np.ndarray] = {}
        for url in self._segments():
            if len(found) == len(wanted):
                break
            try:
                fs, path = io.filesystem(url)
                with fs.open(path, "rb") as fh:
                    table = pq.read_table(fh)
                seg_keys = table.column("key").to_pylist()
                hits = [i for i, k in enumerate(seg_keys) if k in wanted and k not in found]
                if not hits:
                    continue
                vectors = _vectors(table.column("embedding"), self.dim, url)
            except (pa.ArrowException, KeyError, ValueError, OSError) as exc:
                # Cached vectors are derived data: an unreadable segment costs recomputation only.
                log.warning("ignoring unreadable embedding cache segment %s: %s", url, exc)
                continue
            for i in hits:
                found[seg_keys[i]] = vectors[i]
        return found

    def put_many(self, keys: Sequence[str], vectors: np.ndarray) -> str | None:
        """Store one segment; returns its URL (None when there is nothing to store)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not len(keys):
            return None
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(keys), self.dim):
            raise ValueError(f"expected vectors of shape {(len(keys), self.dim)}, got {vectors.shape}")
        table = pa.table({"key": pa.array(list(keys), pa.string()), "embedding": embedding_array(vectors)})
        url = io.join(self.url, f"seg-{io.content_hash(*keys)[:24]}.parquet")
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        io.write_bytes(url, sink.getvalue().to_pybytes())
        log.debug("cached %d embeddings in %s", len(keys), url)
        return url

    def remove(self, keys: set[str]) -> int:
        """Drop `keys` from the cache (`recaug privacy forget`): each segment holding one is
        replaced by a segment of its other entries (written first, so a crash in between
        leaves a duplicate entry, never a lost one). Returns how many entries went."""
        import pyarrow.parquet as pq

        removed = 0
        for url in self._segments():
            fs, path = io.filesystem(url)
            with fs.open(path, "rb") as fh:
                table = pq.read_table(fh)
            seg_keys = table.column("key").to_pylist()
            keep = [i for i, k in enumerate(seg_keys) if k not in keys]
            if len(keep) == len(seg_keys):
                continue
            if keep:
                kept = table.take(keep)
                self.put_many(kept.column("key").to_pylist(), _vectors(kept.column("embedding"), self.dim, url))
            fs.rm(path)
            removed += len(seg_keys) - len(keep)
        return removed


def embedding_array(vectors: np.ndarray):
    """[n, d] float32 → Arrow list<float32> (one list per row, all of length d)."""
    import pyarrow as pa

    n, d = vectors.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(vectors.reshape(-1), pa.float32()))


def _vectors(column, dim: int, url: str) -> np.ndarray:
    """Arrow list<float32> column → [n, dim] float32, refusing ragged or wrong-length rows."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    lengths = np.asarray(array.value_lengths().to_numpy(zero_copy_only=False))
    if len(lengths) and (lengths != dim).any():
        row = int(np.flatnonzero(lengths != dim)[0])
        raise ValueError(f"{url}: row {row} has an embedding of length {lengths[row]}, expected {dim}")
    return np.asarray(array.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)
