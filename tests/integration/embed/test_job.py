"""The embedding stage on a small generated lake, with the real MiniLM via ONNX."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recaug import io
from recaug.embed.config import EmbedConfig, OnnxEncoderConfig
from recaug.embed.errors import EmbedError
from recaug.embed.job import merge_shards, run_embedding

pytestmark = pytest.mark.slow

GENRES = ["Action", "Comedy", "Drama", "Sci-Fi", "Romance", "Horror", "Documentary"]


def _items(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "item_id": [f"i{k:03d}" for k in range(n)],
        "title": [f"Film number {k} ({1970 + k})" for k in range(n)],
        "description": [None if k % 4 == 0 else f"A story about {GENRES[k % 7].lower()} and fate, part {k}"
                        for k in range(n)],
        "tags": ["classic|cult" if k % 5 == 0 else None for k in range(n)],
        "categories": ["|".join(rng.choice(GENRES, 2, replace=False)) for _ in range(n)],
    })


def _lake(settings, cache_dir, items=None, users=True, enrichment=True):
    settings.embed = EmbedConfig(encoder=OnnxEncoderConfig(cache_dir=cache_dir, threads=2), chunk_size=16)
    io.write_parquet(items if items is not None else _items(), settings.lake.items)
    if enrichment:
        io.write_parquet(pd.DataFrame({"item_id": ["i001", "i002"], "description": ["LLM: a heist gone wrong", "x"],
                                       "keywords": ["heist|crime", "y"]}),
                         settings.lake.url("augment", "item_enrichment.parquet"))
    if users:
        io.write_parquet(pd.DataFrame({"user_id": [f"u{k}" for k in range(12)],
                                       "profile": [f"Watches {GENRES[k % 7]} films at night" for k in range(12)]}),
                         settings.lake.url("augment", "user_profiles.parquet"))
    return settings


def _read(settings, kind):
    return io.read_parquet(settings.lake.url("embeddings", f"{kind}.parquet"))


def test_embeds_items_and_users_to_the_contract(settings, encoder_cache_dir):
    _lake(settings, encoder_cache_dir)
    result = run_embedding(settings)
    stats = merge_shards(settings, 1)
    items, users = _read(settings, "items"), _read(settings, "users")
    assert list(items.columns) == ["item_id", "embedding", "encoder", "encoder_version", "content_hash"]
    assert list(users.columns)[0] == "user_id"
    assert items["item_id"].tolist() == sorted(_items()["item_id"])
    vectors = np.stack(items["embedding"].to_list())
    assert vectors.shape == (40, 384) and {len(v) for v in items["embedding"]} == {384}
    assert items["embedding"].iloc[0].dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert set(items["encoder"]) == {"all-MiniLM-L6-v2"} and set(items["encoder_version"]) == {stats.encoder_version}
    # 12 profiles but only 7 distinct texts: equal texts are encoded once.
    assert (stats.items, stats.users, stats.encoded, stats.cache_hits) == (40, 12, 47, 0)
    assert result.backend == "onnx"
    assert json.loads(io.read_text(settings.lake.url("embeddings", "stats.json")))["items"] == 40
    # The enrichment reached the text: the enriched item sits closer to its keywords.
    from recaug.embed import encode_texts

    heist = encode_texts(["heist crime"], settings.embed)[0]
    by_id = dict(zip(items["item_id"], vectors))
    assert heist @ by_id["i001"] > heist @ by_id["i005"]


def test_rerun_encodes_nothing_and_rewrites_identical_files(settings, encoder_cache_dir):
    _lake(settings, encoder_cache_dir)
    run_embedding(settings)
    merge_shards(settings, 1)
    before = io.read_bytes(settings.lake.url("embeddings", "items.parquet"))
    again = run_embedding(settings)
    assert again.encoded == 0
    assert [k.cache_hits for k in again.kinds] == [40, 7]
    merge_shards(settings, 1)
    assert io.read_bytes(settings.lake.url("embeddings", "items.parquet")) == before


def test_a_changed_text_recomputes_only_that_row(settings, encoder_cache_dir):
    _lake(settings, encoder_cache_dir)
    run_embedding(settings)
    merge_shards(settings, 1)
    old = _read(settings, "items").set_index("item_id")
    items = _items()
    items.loc[items["item_id"] == "i007", "title"] = "A completely different title about gardening"
    io.write_parquet(items, settings.lake.items)
    result = run_embedding(settings)
    assert {k.kind: k.encoded for k in result.kinds} == {"items": 1, "users": 0}
    merge_shards(settings, 1)
    new = _read(settings, "items").set_index("item_id")
    changed = [i for i in new.index if not np.array_equal(new.at[i, "embedding"], old.at[i, "embedding"])]
    assert changed == ["i007"]
    assert new.at["i007", "content_hash"] != old.at["i007", "content_hash"]


def test_three_shards_give_the_unsharded_result(settings, encoder_cache_dir, tmp_path):
    from recaug.settings import load_settings

    _lake(settings, encoder_cache_dir)
    run_embedding(settings)
    merge_shards(settings, 1)
    # A second lake with its own (empty) embedding cache, embedded in three shards.
    sharded = load_settings({"lake_root": str(tmp_path / "lake3"), "run_id": "test-run"})
    sharded.lake.ensure()
    _lake(sharded, encoder_cache_dir)
    results = [run_embedding(sharded, shard=i, num_shards=3) for i in range(3)]
    assert sum(r.encoded for r in results) == 47
    assert all(k.rows < 40 for r in results for k in r.kinds if k.kind == "items")
    stats = merge_shards(sharded, 3)
    assert (stats.items, stats.users, stats.num_shards) == (40, 12, 3)
    for kind, key in (("items", "item_id"), ("users", "user_id")):
        one, three = _read(settings, kind), _read(sharded, kind)
        assert one[key].tolist() == three[key].tolist()
        assert one["content_hash"].tolist() == three["content_hash"].tolist()
        np.testing.assert_allclose(np.stack(one["embedding"].to_list()), np.stack(three["embedding"].to_list()),
                                   atol=1e-5)


def test_merge_refuses_missing_or_mismatched_shards(settings, encoder_cache_dir):
    _lake(settings, encoder_cache_dir)
    run_embedding(settings, shard=0, num_shards=2)
    with pytest.raises(EmbedError, match=r"shard\(s\) \[1\] of 2 have not run"):
        merge_shards(settings, 2)
    items = _items()
    items.loc[0, "title"] = "changed between shard runs"
    io.write_parquet(items, settings.lake.items)
    run_embedding(settings, shard=1, num_shards=2)
    with pytest.raises(EmbedError, match="other input tables"):
        merge_shards(settings, 2)


def test_bad_inputs_are_named(settings, encoder_cache_dir):
    settings.embed = EmbedConfig(encoder=OnnxEncoderConfig(cache_dir=encoder_cache_dir, threads=2))
    with pytest.raises(EmbedError, match="curated/items.parquet: not found"):
        run_embedding(settings)
    io.write_parquet(_items().drop(columns=["title"]), settings.lake.items)
    with pytest.raises(EmbedError, match=r"items.parquet: missing required column\(s\) \['title'\]"):
        run_embedding(settings)
    items = _items()
    items.loc[5, "item_id"] = "i001"
    io.write_parquet(items, settings.lake.items)
    with pytest.raises(EmbedError, match="row 5 column 'item_id' repeats id 'i001'"):
        run_embedding(settings)
    with pytest.raises(EmbedError, match="shard 3 of 3"):
        run_embedding(settings, shard=3, num_shards=3)


def test_without_augment_outputs_users_table_is_empty(settings, encoder_cache_dir):
    _lake(settings, encoder_cache_dir, users=False, enrichment=False)
    run_embedding(settings)
    stats = merge_shards(settings, 1)
    assert (stats.items, stats.users) == (40, 0)
    assert stats.inputs["user_profiles"] is None
    assert list(_read(settings, "users").columns)[:2] == ["user_id", "embedding"]


def test_cli_runs_and_merges(settings, encoder_cache_dir, capsys):
    from recaug.cli import main

    _lake(settings, encoder_cache_dir)
    overrides = ["--lake", settings.lake_root, "--set", f"embed.encoder.cache_dir={encoder_cache_dir}",
                 "--set", "embed.encoder.threads=2"]
    assert main(["embed", "--no-progress", *overrides]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["merged"]["items"] == 40
    assert main(["embed", "--shard", "0", "--num-shards", "2", "--no-progress", *overrides]) == 0
    capsys.readouterr()
    assert main(["embed", "merge", "--num-shards", "2", *overrides]) == 1  # shard 1 missing: a user error
    assert "have not run" in capsys.readouterr().err


def test_template_profiles_are_not_embedded(settings, encoder_cache_dir):
    """Only LLM-written profiles get a user embedding: a template one restates the history."""
    _lake(settings, encoder_cache_dir, enrichment=False)
    io.write_parquet(pd.DataFrame({
        "user_id": ["u0", "u1", "u2"],
        "profile": ["Watches Drama films at night", "Recently: Film number 1, Film number 2", "Loves sci-fi"],
        "backend": ["llama_cpp", "template", "openai"],
    }), settings.lake.url("augment", "user_profiles.parquet"))
    run_embedding(settings)
    stats = merge_shards(settings, 1)
    assert stats.users == 2
    assert _read(settings, "users")["user_id"].tolist() == ["u0", "u2"]
