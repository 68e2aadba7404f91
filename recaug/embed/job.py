"""The embedding stage: item texts and user profiles → embeddings/, cached by content hash.

`run_embedding(settings, shard, num_shards)` embeds the rows whose id hashes to `shard`
and writes `embeddings/shards/<kind>-<i>-of-<n>.parquet`; `merge_shards(settings, n)`
checks that all n shards come from the same inputs and encoder and writes
`embeddings/items.parquet`, `embeddings/users.parquet` and `embeddings/stats.json`.
Only texts missing from the cache are encoded, so a rerun on unchanged data encodes
nothing, and a run that dies keeps every chunk it finished.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from recaug import io
from recaug.embed.cache import EmbeddingCache, cache_key, embedding_array
from recaug.embed.errors import EmbedError
from recaug.embed.sharding import shard_mask, shard_of

log = logging.getLogger(__name__)

KINDS = {"items": "item_id", "users": "user_id"}
ENRICHMENT = ("augment", "item_enrichment.parquet")
PROFILES = ("augment", "user_profiles.parquet")


class KindResult(BaseModel):
    kind: str = Field(description="items or users")
    rows: int = Field(description="ids embedded in this shard")
    unique_texts: int
    cache_hits: int = Field(description="unique texts found in the cache")
    encoded: int = Field(description="unique texts run through the encoder")
    seconds: float
    output: str


class EmbedShardResult(BaseModel):
    shard: int
    num_shards: int
    encoder: str
    encoder_version: str
    backend: str
    dim: int
    inputs: dict[str, str | None] = Field(description="SHA-256 of each input table (None: absent)")
    kinds: list[KindResult]

    @property
    def encoded(self) -> int:
        return sum(k.encoded for k in self.kinds)


class EmbedStats(BaseModel):
    num_shards: int
    encoder: str
    encoder_version: str
    backend: str
    dim: int
    items: int
    users: int
    cache_hits: int = Field(description="unique texts found in the cache, summed over shards")
    encoded: int = Field(description="unique texts run through the encoder, summed over shards")
    seconds: float = Field(description="embedding time summed over shards (cache lookups included)")
    inputs: dict[str, str | None]
    outputs: dict[str, str]


def shard_url(settings, kind: str, shard: int, num_shards: int, suffix: str = "parquet") -> str:
    return settings.lake.url("embeddings", "shards", f"{kind}-{shard}-of-{num_shards}.{suffix}")


def run_embedding(settings, shard: int = 0, num_shards: int = 1, progress: bool = False) -> EmbedShardResult:
    """Embed this shard's items and users; write its shard tables and result."""
    from recaug.embed.encoder import cached_encoder

    if num_shards < 1 or not 0 <= shard < num_shards:
        raise EmbedError(f"shard {shard} of {num_shards}: need --num-shards >= 1 and 0 <= --shard < --num-shards")
    cfg = settings.embed
    sources, inputs = _load_texts(settings)
    encoder = cached_encoder(cfg.encoder)
    cache = EmbeddingCache(settings.lake.url("cache", "embeddings"), encoder.name, encoder.version, encoder.dim)
    results = []
    for kind, key in KINDS.items():
        frame = sources[kind]
        frame = frame[shard_mask(frame[key], shard, num_shards)].sort_values(key, kind="stable")
        started = time.perf_counter()
        vectors, hits, encoded = _embed(frame["text"].tolist(), encoder, cache, cfg, kind, shard, progress)
        url = shard_url(settings, kind, shard, num_shards)
        _write_embeddings(url, key, frame[key].tolist(), vectors, frame["text"].tolist(), encoder)
        results.append(KindResult(
            kind=kind, rows=len(frame), unique_texts=hits + encoded, cache_hits=hits, encoded=encoded,
            seconds=round(time.perf_counter() - started, 3), output=url,
        ))
        log.info("embed shard %d/%d %s: %d rows, %d cache hits, %d encoded, %.1fs",
                 shard, num_shards, kind, len(frame), hits, encoded, results[-1].seconds)
    result = EmbedShardResult(
        shard=shard, num_shards=num_shards, encoder=encoder.name, encoder_version=encoder.version,
        backend=encoder.backend, dim=encoder.dim, inputs=inputs, kinds=results,
    )
    io.write_json(shard_url(settings, "result", shard, num_shards, "json"), result.model_dump(mode="json"))
    return result


def merge_shards(settings, num_shards: int = 1) -> EmbedStats:
    """Combine the n shard tables into embeddings/{items,users}.parquet (sorted by id)."""
    lake = settings.lake
    result_urls = [shard_url(settings, "result", i, num_shards, "json") for i in range(num_shards)]
    missing = [i for i, url in enumerate(result_urls) if not io.exists(url)]
    if missing:
        raise EmbedError(
            f"{lake.url('embeddings', 'shards')}: shard(s) {missing} of {num_shards} have not run; "
            f"run `recaug embed --shard I --num-shards {num_shards}` for each"
        )
    results = [EmbedShardResult.model_validate(io.read_json(url)) for url in result_urls]
    first = results[0]
    for result, url in zip(results, result_urls):
        if (result.encoder, result.encoder_version) != (first.encoder, first.encoder_version):
            raise EmbedError(f"{url}: encoder {result.encoder} {result.encoder_version} differs from shard 0's "
                             f"{first.encoder} {first.encoder_version}; rerun every shard with one encoder")
        if result.inputs != first.inputs:
            raise EmbedError(f"{url}: this shard embedded other input tables than shard 0 (inputs changed "
                             "between shard runs); rerun every shard")
    outputs = {}
    counts = {}
    for kind, key in KINDS.items():
        frames = []
        for i in range(num_shards):
            url = shard_url(settings, kind, i, num_shards)
            frame = _read_shard(url, key, first.dim)
            wrong = [v for v in frame[key] if shard_of(v, num_shards) != i]
            if wrong:
                raise EmbedError(f"{url}: {key} {wrong[0]!r} does not belong to shard {i} of {num_shards}")
            frames.append(frame)
        merged = pd.concat(frames, ignore_index=True).sort_values(key, kind="stable").reset_index(drop=True)
        url = lake.url("embeddings", f"{kind}.parquet")
        _write_table(url, key, merged, first.dim)
        outputs[kind] = url
        counts[kind] = len(merged)
    stats = EmbedStats(
        num_shards=num_shards, encoder=first.encoder, encoder_version=first.encoder_version, backend=first.backend,
        dim=first.dim, items=counts["items"], users=counts["users"],
        cache_hits=sum(k.cache_hits for r in results for k in r.kinds),
        encoded=sum(k.encoded for r in results for k in r.kinds),
        seconds=round(sum(k.seconds for r in results for k in r.kinds), 3), inputs=first.inputs, outputs=outputs,
    )
    io.write_json(lake.url("embeddings", "stats.json"), stats.model_dump(mode="json"))
    log.info("merged %d shard(s): %d items, %d users -> %s", num_shards, stats.items, stats.users,
             lake.url("embeddings"))
    return stats


def _embed(texts, encoder, cache, cfg, kind, shard, progress) -> tuple[np.ndarray, int, int]:
    """Vectors for `texts` (rows in order); returns (vectors, cache hits, encoded) over unique texts."""
    unique = list(dict.fromkeys(texts))
    keys = [cache_key(t, encoder.name, encoder.version) for t in unique]
    found = cache.get_many(keys)
    todo = [i for i, k in enumerate(keys) if k not in found]
    if todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"embed {kind} (shard {shard})", unit="text", disable=not progress)
        for start in range(0, len(todo), cfg.chunk_size):
            chunk = todo[start:start + cfg.chunk_size]
            vectors = encoder.encode([unique[i] for i in chunk], batch_size=cfg.batch_size)
            chunk_keys = [keys[i] for i in chunk]
            cache.put_many(chunk_keys, vectors)
            found.update(zip(chunk_keys, vectors))
            bar.update(len(chunk))
            log.info("embed %s: %d/%d new texts encoded", kind, start + len(chunk), len(todo))
        bar.close()
    by_text = {text: found[key] for text, key in zip(unique, keys)}
    out = np.stack([by_text[t] for t in texts]) if texts else np.zeros((0, encoder.dim), np.float32)
    return out.astype(np.float32, copy=False), len(unique) - len(todo), len(todo)


def _load_texts(settings) -> tuple[dict[str, pd.DataFrame], dict[str, str | None]]:
    from recaug.embed.texts import item_texts, user_texts

    lake, cfg = settings.lake, settings.embed
    if not io.exists(lake.items):
        raise EmbedError(f"{lake.items}: not found; run `recaug ingest` first (items come from curated/)")
    items = _read_table(lake.items, ["item_id", "title"])
    enrichment_url = lake.url(*ENRICHMENT)
    enrichment = None
    if cfg.use_enrichment and io.exists(enrichment_url):
        enrichment = _read_table(enrichment_url, ["item_id", "description", "keywords"])
    profiles_url = lake.url(*PROFILES)
    if cfg.embed_users and io.exists(profiles_url):
        profiles = _read_table(profiles_url, ["user_id", "profile"])
        users = user_texts(profiles)
        if len(users) < len(profiles):
            log.info("embed: %d of %d user profiles are template summaries of the history (no LLM profile); "
                     "embedding the %d LLM-written ones", len(profiles) - len(users), len(profiles), len(users))
    else:
        users = pd.DataFrame({"user_id": pd.Series([], dtype=str), "text": pd.Series([], dtype=str)})
        profiles_url = None
    inputs = {
        "items": io.sha256_file(lake.items),
        "item_enrichment": io.sha256_file(enrichment_url) if enrichment is not None else None,
        "user_profiles": io.sha256_file(profiles_url) if profiles_url else None,
    }
    return {"items": item_texts(items, enrichment), "users": users}, inputs


def _read_table(url: str, required: list[str]) -> pd.DataFrame:
    try:
        frame = io.read_parquet(url)
    except Exception as exc:
        raise EmbedError(f"{url}: cannot read as Parquet ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise EmbedError(f"{url}: missing required column(s) {missing}; found {list(frame.columns)}")
    key = required[0]
    ids = frame[key]
    empty = ids.isna() | (ids.astype(str).str.strip() == "")
    if empty.any():
        raise EmbedError(f"{url}: row {int(np.flatnonzero(empty.to_numpy())[0])} column {key!r} is empty")
    duplicated = ids.astype(str).duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise EmbedError(f"{url}: row {row} column {key!r} repeats id {str(ids.iloc[row])!r} (ids must be unique)")
    frame[key] = ids.astype(str)
    return frame


def _write_embeddings(url, key, ids, vectors, texts, encoder) -> None:
    frame = pd.DataFrame({
        key: ids,
        "encoder": encoder.name,
        "encoder_version": encoder.version,
        "content_hash": [io.content_hash(t) for t in texts],
    })
    frame["embedding"] = list(vectors) if len(ids) else []
    _write_table(url, key, frame, encoder.dim)


def _write_table(url: str, key: str, frame: pd.DataFrame, dim: int) -> None:
    """Write the contract's columns (id, embedding list<float32>, encoder, encoder_version, content_hash)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = np.stack(frame["embedding"].to_list()).astype(np.float32) if len(frame) else np.zeros((0, dim), np.float32)
    table = pa.table({
        key: pa.array(frame[key].astype(str).tolist(), pa.string()),
        "embedding": embedding_array(vectors),
        "encoder": pa.array(frame["encoder"].astype(str).tolist(), pa.string()),
        "encoder_version": pa.array(frame["encoder_version"].astype(str).tolist(), pa.string()),
        "content_hash": pa.array(frame["content_hash"].astype(str).tolist(), pa.string()),
    })
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    io.write_bytes(url, sink.getvalue().to_pybytes())


def _read_shard(url: str, key: str, dim: int) -> pd.DataFrame:
    if not io.exists(url):
        raise EmbedError(f"{url}: shard table missing although its result exists; rerun that shard")
    frame = io.read_parquet(url)
    lengths = frame["embedding"].map(len).to_numpy() if len(frame) else np.zeros(0, int)
    if (lengths != dim).any():
        row = int(np.flatnonzero(lengths != dim)[0])
        raise EmbedError(f"{url}: row {row} column 'embedding' has length {lengths[row]}, expected {dim}")
    return frame
