"""The LLM's item attributes and proposed negatives, from the augment tables through `features
build` into `recaug train`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recaug import io
from recaug.cli import main
from recaug.data.config import SynthConfig
from recaug.data.synth import generate_days
from recaug.features.build import build_features, features_url
from recaug.models.artifact import load_artifact

pytestmark = pytest.mark.slow

TINY = ["model.hidden_size=32", "model.num_layers=1", "model.max_length=20", "train.epochs=2",
        "train.batch_size=16", "train.num_threads=1", "train.hard_negatives=true"]
GENRES = ["drama", "comedy", "thriller"]


def test_features_carry_the_llm_attributes_and_training_consumes_them(settings, capsys):
    days = list(generate_days(SynthConfig(seed=5, n_users=80, n_items=60, n_interactions=2500, n_topics=3, n_days=6)))
    interactions = pd.concat([d.interactions for d in days], ignore_index=True)
    items = pd.concat([d.items for d in days], ignore_index=True).drop_duplicates("item_id")
    io.write_parquet(interactions, settings.lake.interactions)
    io.write_parquet(items, settings.lake.items)
    ids = items["item_id"].astype(str).tolist()
    attributes = [json.dumps({"genre": GENRES[i % 3], "mood": "calm"}) if i % 2 == 0 else "{broken" for i in range(len(ids))]
    io.write_parquet(pd.DataFrame({
        "item_id": ids, "description": "An item.", "keywords": "k", "attributes_json": attributes,
        "backend": "transformers", "model_id": "m", "prompt_version": "item-v1", "content_hash": "h",
        "fallback": False, "deferred": False,
    }), settings.lake.url("augment", "item_enrichment.parquet"))
    last = interactions.sort_values("timestamp").groupby("user_id").tail(1)
    io.write_parquet(pd.DataFrame({
        "user_id": last["user_id"].to_numpy(), "item_id": ids[0], "timestamp": last["timestamp"].to_numpy(),
        "source": "augmented", "confidence": 0.8, "negative_item_id": ids[1],
    }), settings.lake.url("augment", "interactions.parquet"))

    result = build_features(settings)
    content = io.read_parquet(features_url(settings, "item_content.parquet")).set_index("item_id")
    assert content.loc[ids[0], "llm_genre"] == "drama" and content.loc[ids[0], "llm_mood"] == "calm"
    assert content.loc[ids[1], "llm_genre"] == ""  # its attributes did not parse
    stats = result.llm_attributes
    assert stats.items_with_attributes == (len(ids) + 1) // 2 and stats.dropped_not_json == len(ids) // 2

    args = ["train", "--run-id", "llm", "--lake", settings.lake_root, *sum((["--set", s] for s in TINY), [])]
    assert main(args) == 0
    capsys.readouterr()
    directory = settings.lake.url("models", "llm")
    assert "item_attributes" in io.read_json(io.join(directory, "data_versions.json"))
    model, vocab, params = load_artifact(directory)
    tokens = model.items.llm_attributes
    assert tokens.shape[1] == 8 and model.items.use_llm_attributes
    row = vocab.index(ids[0])
    assert int((tokens[row] > 0).sum()) == 2 and int((tokens[vocab.index(ids[1])] > 0).sum()) == 0
    assert params["data"]["hard_negative_users"] > 0
    assert np.isfinite(io.read_json(io.join(directory, "metrics.json"))["test"]["overall"]["ndcg@10"])
