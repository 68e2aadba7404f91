"""The augmentation stage end to end with the template backend (no model)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recaug import io
from recaug.augment.config import InteractionAugmentConfig
from recaug.augment.inputs import AugmentInputError
from recaug.augment.outputs import ItemText, ProfileText
from recaug.augment.pipeline import run_augmentation
from recaug.cli import main
from recaug.data import schemas


def read(settings, name):
    return io.read_parquet(settings.lake.url("augment", f"{name}.parquet"))


def test_outputs_follow_the_contracts(template_settings):
    settings = template_settings(interactions={"sparse_max_events": 2})
    stats = run_augmentation(settings)
    items = read(settings, "item_enrichment")
    assert list(items.columns[:9]) == ["item_id", "description", "keywords", "attributes_json", "backend", "model_id",
                                       "prompt_version", "content_hash", "fallback"]
    assert len(items) == 10 and items["item_id"].is_unique and not items["fallback"].any()
    for row in items.itertuples():
        ItemText(description=row.description, keywords=row.keywords.split("|"), attributes=json.loads(row.attributes_json))
    profiles = read(settings, "user_profiles")
    assert sorted(profiles["user_id"]) == [f"u{i}" for i in range(1, 8)]
    assert all(ProfileText(profile=p) for p in profiles["profile"])

    augmented = read(settings, "interactions")
    conformed = schemas.conform(augmented, schemas.INTERACTIONS)
    assert sorted(conformed["user_id"]) == ["u5", "u6", "u7"]
    assert (conformed["source"] == "augmented").all()
    assert ((conformed["confidence"] > 0) & (conformed["confidence"] <= 1)).all()
    curated = io.read_parquet(settings.lake.interactions)
    last = curated.groupby("user_id")["timestamp"].max()
    for row in augmented.itertuples():
        assert row.timestamp == last[row.user_id] + pd.Timedelta(seconds=1)
        assert row.item_id not in set(curated.loc[curated["user_id"] == row.user_id, "item_id"])
        assert row.negative_item_id != row.item_id
    assert stats.interactions.sparse_users == 3 and stats.interactions.rows == 3
    assert stats.generations == 0 and stats.items.template == 10
    assert io.read_json(settings.lake.url("augment", "stats.json"))["interactions"]["rows"] == 3


def test_rerun_gives_identical_tables(template_settings):
    settings = template_settings()
    run_augmentation(settings)
    first = {n: read(settings, n) for n in ("item_enrichment", "user_profiles", "interactions")}
    run_augmentation(settings)
    for name, table in first.items():
        pd.testing.assert_frame_equal(read(settings, name), table)


def test_rerun_on_the_defaults_is_identical_once_embeddings_exist(template_settings):
    """The nightly run augments before it embeds, so the second run finds the first run's
    embeddings: on the default settings that must not change what augmentation proposes."""
    settings = template_settings(interactions={"sparse_max_events": 2})
    assert settings.augment.interactions.retriever == InteractionAugmentConfig().retriever
    first_stats = run_augmentation(settings)
    first = {n: read(settings, n) for n in ("item_enrichment", "user_profiles", "interactions")}
    rng = np.random.default_rng(0)  # vectors that rank candidates unlike co-occurrence does
    items = io.read_parquet(settings.lake.items)["item_id"].tolist()
    io.write_parquet(pd.DataFrame({"item_id": items, "embedding": [rng.normal(size=8).astype("float32").tolist() for _ in items]}),
                     settings.lake.url("embeddings", "items.parquet"))
    second_stats = run_augmentation(settings)
    assert second_stats.interactions.retriever == first_stats.interactions.retriever
    for name, table in first.items():
        pd.testing.assert_frame_equal(read(settings, name), table)


def test_denoise_threshold_drops_weak_pairs(template_settings):
    settings = template_settings(interactions={"sparse_max_events": 2}, denoise={"min_confidence": 0.99})
    stats = run_augmentation(settings)
    assert stats.interactions.rows_before_denoise == 3 and stats.interactions.dropped_low_confidence == 3
    assert read(settings, "interactions").empty


def test_disabled_writes_empty_outputs_over_old_ones(template_settings):
    run_augmentation(template_settings())
    settings = template_settings(enabled=False)
    stats = run_augmentation(settings)
    assert not stats.enabled
    for name in ("item_enrichment", "user_profiles", "interactions"):
        assert read(settings, name).empty


def test_missing_or_broken_curated_tables_are_named(settings):
    with pytest.raises(AugmentInputError, match=r"interactions.parquet: not found; run `recaug ingest`"):
        run_augmentation(settings)
    io.write_parquet(pd.DataFrame({"user_id": ["u1"], "item_id": [None], "timestamp": [0]}), settings.lake.interactions)
    with pytest.raises(AugmentInputError, match=r"row 0 column 'item_id' is empty"):
        run_augmentation(settings)
    io.write_bytes(settings.lake.interactions, b"not parquet")
    with pytest.raises(AugmentInputError, match="cannot be read as Parquet"):
        run_augmentation(settings)


def test_items_table_is_optional(template_settings):
    settings = template_settings(interactions={"sparse_max_events": 2})
    io.filesystem(settings.lake.items)[0].rm(settings.lake.items)
    stats = run_augmentation(settings)
    assert stats.items.outputs == 0 and stats.profiles.outputs == 7
    assert "item i0" in read(settings, "user_profiles")["profile"].iloc[0]


def test_cli_runs_the_stage_with_backend_and_budget_options(curated, capsys):
    code = main(["augment", "--lake", curated.lake_root, "--backend", "template", "--max-items", "3", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"] == "template" and out["items"]["outputs"] == 10
    assert out["items"]["budget"] == 3, "--max-items reached the stage"


def test_cli_prints_a_summary(curated, capsys):
    assert main(["augment", "--lake", curated.lake_root, "--backend", "template"]) == 0
    out = capsys.readouterr().out
    assert "augment (template): 0 generations" in out and "item: 10 outputs" in out
    assert f"outputs in {curated.lake.url('augment')}" in out


def test_cli_rejects_a_negative_budget(curated, capsys):
    assert main(["augment", "--lake", curated.lake_root, "--backend", "template", "--max-items", "-1"]) == 2
    assert "--max-items must be >= 0" in capsys.readouterr().err


def test_backend_is_chosen_by_type_from_overrides():
    from recaug.settings import load_settings

    s = load_settings(["augment.backend.type=openai", "augment.backend.base_url=http://10.0.0.5:8000/v1"])
    assert s.augment.backend.type == "openai" and s.augment.backend.base_url.startswith("http://10.0.0.5")
    with pytest.raises(ValueError):
        load_settings(["augment.backend.type=nope"])
