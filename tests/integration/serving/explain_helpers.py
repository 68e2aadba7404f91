"""A trained, deployed model with LLM enrichment in Feast: the world of the explanation test
and of bench/bench_explain.py."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recaug import io

NEW_ITEMS = 3  # catalogue items nobody has interacted with yet (cold: no training event)
MODEL_NAME = "recaug_explain"


def explain_settings(root, triton_home, model: dict, epochs: int, top_k: int):
    """Settings of a lake under `root` (created): 16-d topic text vectors without augmented
    data, the given model and epochs, the local Triton at `triton_home`; no params.yaml is read."""
    from gateway_helpers import settings_without_params

    return settings_without_params(root, {
        "lake_root": str(root / "lake"), "run_id": "explain-1",
        "features": {"embedding_dim": 16, "include_augmented": False},
        "model": model, "train": {"epochs": epochs, "batch_size": 32, "num_threads": 2},
        "export": {"top_k": top_k, "parity_batch_sizes": [2], "parity_lengths": [5]},
        "deploy": {"model_name": MODEL_NAME, "target": {"type": "local", "home": str(triton_home)},
                   "gateway": {"triton_timeout_s": 2.0, "features_timeout_s": 5.0}},
    })


def market_tables(synth) -> dict[str, pd.DataFrame]:
    """A synthetic marketplace (recaug.data.synth) with its users table, plus NEW_ITEMS catalogue items without any
    interaction, text vectors shaped by the items' first category (one axis per category, plus
    noise), and LLM enrichment whose keywords are the items' tags."""
    from recaug.data.synth import generate_days

    days = list(generate_days(synth))
    interactions = pd.concat([d.interactions for d in days], ignore_index=True)
    items = pd.concat([d.items for d in days], ignore_index=True)
    fresh = items.head(NEW_ITEMS).assign(item_id=[f"new-{i}" for i in range(NEW_ITEMS)],
                                        first_seen=interactions["timestamp"].max())
    items = pd.concat([items, fresh], ignore_index=True)
    rng = np.random.default_rng(0)
    topic = items["categories"].str.split("|").str[0]
    axes = {name: i % 16 for i, name in enumerate(sorted(topic.unique()))}
    vectors = np.zeros((len(items), 16), dtype=np.float32)
    vectors[np.arange(len(items)), topic.map(axes).to_numpy()] = 1.0
    vectors += rng.normal(scale=0.3, size=vectors.shape).astype(np.float32)
    return {
        "interactions": interactions,
        "items": items,
        "users": pd.concat([d.users for d in days], ignore_index=True),
        "embeddings": pd.DataFrame({"item_id": items["item_id"], "embedding": list(vectors), "encoder": "topic-vectors",
                                    "encoder_version": "1", "content_hash": "h"}),
        "enrichment": pd.DataFrame({
            "item_id": items["item_id"], "description": "LLM says: " + items["title"], "keywords": items["tags"],
            "attributes_json": "{}", "backend": "test", "model_id": "none", "prompt_version": "1",
            "content_hash": "x", "fallback": False, "deferred": False,
        }),
    }


def explained_world(root, triton_home, synth, model: dict, epochs: int, top_k: int | None):
    """(settings, artifact_dir, catalogue, enrichment): the marketplace in the lake, its features
    materialized into Feast, a model trained on it, exported and deployed. top_k None: the
    whole catalogue (every unseen item is in every answer)."""
    from recaug.deploy.deploy import deploy
    from recaug.export.onnx import export
    from recaug.features.build import build_features
    from recaug.features.store import apply_definitions, materialize
    from recaug.train.run import train

    tables = market_tables(synth)
    settings = explain_settings(root, triton_home, model, epochs, top_k or len(tables["items"]))
    io.write_parquet(tables["interactions"], settings.lake.interactions)
    io.write_parquet(tables["items"], settings.lake.items)
    io.write_parquet(tables["embeddings"], settings.lake.url("embeddings", "items.parquet"))
    io.write_parquet(tables["enrichment"], settings.lake.url("augment", "item_enrichment.parquet"))
    build_features(settings)
    apply_definitions(settings)
    materialize(settings)
    artifact = train(settings).artifact_dir
    export(settings, artifact)
    deploy(settings, artifact)
    return settings, artifact, tables["items"], tables["enrichment"]
