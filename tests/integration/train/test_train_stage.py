"""The train -> evaluate -> gate stages on a real lake, through the `recaug` CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recaug import io
from recaug.cli import main
from recaug.data.config import SynthConfig
from recaug.data.synth import generate_days
from recaug.models.artifact import load_artifact

TINY = ["model.hidden_size=32", "model.num_layers=1", "model.max_length=20", "train.epochs=3",
        "train.batch_size=16", "train.num_threads=1", "train.prune_warmup_epochs=1"]


@pytest.fixture
def lake(settings):
    """Curated tables, item text embeddings and augmented interactions of a small synthetic market."""
    days = list(generate_days(SynthConfig(seed=5, n_users=120, n_items=80, n_interactions=4000, n_topics=4, n_days=8)))
    interactions = pd.concat([d.interactions for d in days], ignore_index=True)
    items = pd.concat([d.items for d in days], ignore_index=True)
    io.write_parquet(interactions, settings.lake.interactions)
    io.write_parquet(items, settings.lake.items)
    rng = np.random.default_rng(0)
    io.write_parquet(pd.DataFrame({
        "item_id": items["item_id"], "embedding": list(rng.normal(size=(len(items), 16)).astype(np.float32)),
        "encoder": "test-vectors", "encoder_version": "1", "content_hash": "x",
    }), settings.lake.url("embeddings", "items.parquet"))
    sample = interactions.sample(400, random_state=0)
    io.write_parquet(pd.DataFrame({
        "user_id": sample["user_id"].to_numpy(), "item_id": rng.choice(items["item_id"], len(sample)),
        "timestamp": sample["timestamp"].to_numpy(), "source": "augmented", "confidence": 0.8,
    }), settings.lake.url("augment", "interactions.parquet"))
    return settings


def run(settings, *args) -> int:
    return main([*args, "--lake", settings.lake_root, *sum((["--set", s] for s in TINY), [])])


def test_train_evaluate_gate_through_the_cli(lake, capsys):
    assert run(lake, "train", "--run-id", "r1") == 0
    result = json.loads(capsys.readouterr().out)
    directory = lake.lake.url("models", "r1")
    assert result["artifact_dir"] == directory and not result["skipped"]
    for name in ("model.pt", "item_vocab.json", "params.json", "metrics.json", "data_versions.json",
                 "training_curves.png", "test_metrics.png"):
        assert io.exists(io.join(directory, name)), name
    assert not io.exists(io.join(directory, "checkpoint.pt"))
    metrics = io.read_json(io.join(directory, "metrics.json"))
    assert metrics["test"]["overall"]["cases"] > 50 and "cold_items" in metrics["test"]
    assert metrics["history"][-1]["pruned"] > 0  # augmented targets were denoised after the warm-up
    # why training stopped, and whether the budget (not convergence) ended it, as the CLI result says too
    assert metrics["stop_reason"] in ("converged", "cap", "time") and metrics["best_epoch"] >= 1
    assert metrics["still_improving"] == (metrics["stop_reason"] != "converged"
                                          and metrics["best_epoch"] == metrics["epochs_run"])
    assert bool(metrics["warnings"]) == metrics["still_improving"]
    assert (result["stop_reason"], result["still_improving"]) == (metrics["stop_reason"], metrics["still_improving"])
    assert set(io.read_json(io.join(directory, "data_versions.json"))) == {
        "interactions", "items", "item_embeddings", "augmented"}
    model, vocab, params = load_artifact(directory)
    assert params["data"]["augmented_events"] > 0 and model.items.text.shape[1] == 16

    assert run(lake, "train", "--run-id", "r1") == 0  # same inputs: nothing recomputed
    assert json.loads(capsys.readouterr().out)["skipped"] is True

    assert run(lake, "evaluate", "--run-id", "r1") == 0  # the data and settings it was trained on: its metrics stand
    evaluation = json.loads(capsys.readouterr().out)
    assert (evaluation["valid"], evaluation["test"]) == (metrics["valid"], metrics["test"])
    # another slice threshold: the saved model is loaded and ranked again, with the trained model's overall numbers
    assert run(lake, "evaluate", "--run-id", "r1", "--set", "train.cold_user_threshold=3") == 0
    again = json.loads(capsys.readouterr().out)
    assert again["test"]["cold_users"] != metrics["test"]["cold_users"]
    for split in ("valid", "test"):
        assert again[split]["overall"]["ndcg@10"] == pytest.approx(metrics[split]["overall"]["ndcg@10"])
    baselines = io.read_json(io.join(directory, "metrics.json"))["baselines"]  # the report compares against these
    assert {"MostPop", "ItemKNN"} <= set(baselines)
    assert baselines["MostPop"]["test"]["overall"]["cases"] == evaluation["test"]["overall"]["cases"]

    assert run(lake, "gate", "--run-id", "r1") == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["deploy"] is True and decision["reason"] == "no model is live yet"
    assert not io.exists(lake.lake.url("models", "champion.json"))  # the gate proposes; only deploy promotes


def test_changed_parameters_refuse_to_overwrite_a_run(lake, capsys):
    assert run(lake, "train", "--run-id", "r1") == 0
    assert run(lake, "train", "--run-id", "r1", "--set", "train.seed=9") == 1
    assert "trained on other inputs or parameters" in capsys.readouterr().err


def test_missing_curated_data_is_a_clear_error(settings, capsys):
    assert main(["train", "--lake", settings.lake_root, "--run-id", "x"]) == 1
    assert "run `recaug ingest` first" in capsys.readouterr().err


@pytest.mark.slow
def test_training_and_evaluation_record_the_mmr_trade_off_and_the_default_weight(lake, capsys):
    assert run(lake, "train", "--run-id", "r1") == 0
    assert json.loads(capsys.readouterr().out)["mmr_weight"] is not None
    directory = lake.lake.url("models", "r1")
    metrics = io.read_json(io.join(directory, "metrics.json"))
    curve = metrics["mmr"]
    assert curve["k"] == 10 and curve["candidates"] == lake.export.top_k and curve["max_ndcg_loss"] == 0.02
    assert curve["weights"] == lake.train.mmr_weights
    for split in ("valid", "test"):
        rows = curve[split]
        assert [row["weight"] for row in rows] == curve["weights"]
        assert all(row["cases"] == metrics[split]["overall"]["cases"] for row in rows)
        # weight 0 is the model's own order: the same numbers as the full-ranking evaluation
        for key in ("ndcg@10", "recall@10", "coverage@10", "diversity@10"):
            assert rows[0][key] == pytest.approx(metrics[split]["overall"][key], abs=1e-6), (split, key)
        assert rows[-1]["diversity@10"] > rows[0]["diversity@10"]  # MMR at 0.9 diversifies the lists
    base = curve["valid"][0]["ndcg@10"]
    within = [row["weight"] for row in curve["valid"] if row["ndcg@10"] >= 0.98 * base]
    assert curve["chosen_weight"] == max(within)

    assert run(lake, "evaluate", "--run-id", "r1") == 0
    assert json.loads(capsys.readouterr().out)["mmr"] == curve  # re-evaluated on the same data: the same curve
    assert io.read_json(io.join(directory, "metrics.json"))["mmr"] == curve

    chosen = next(row for row in curve["valid"] if row["weight"] == curve["chosen_weight"])
    assert run(lake, "gate", "--run-id", "r1", "--set", f"train.gate_min_coverage={chosen['coverage@10'] + 0.01}") == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["deploy"] is False and "coverage@10" in decision["reason"] and "by 0.0100" in decision["reason"]
    assert decision["floors"][0]["value"] == chosen["coverage@10"]


@pytest.mark.slow
def test_train_reads_user_attributes_through_the_feature_store(lake, capsys):
    """With the store applied, the trainer's user tower gets attributes through Feast's
    point-in-time join (never profiles written after the events they read)."""
    from recaug.features.build import build_features
    from recaug.features.store import apply_definitions

    days = list(generate_days(SynthConfig(seed=5, n_users=120, n_items=80, n_interactions=4000, n_topics=4, n_days=8)))
    io.write_parquet(pd.concat([d.users for d in days], ignore_index=True), lake.lake.users)
    build_features(lake)
    apply_definitions(lake)
    assert run(lake, "train", "--run-id", "users", "--set", "model.use_user_features=true",
               "--set", "train.first_event_targets=true") == 0
    directory = json.loads(capsys.readouterr().out)["artifact_dir"]
    model, _, params = load_artifact(directory)
    assert set(params["user_features"]["categorical"]) == {"region"} and set(params["user_features"]["numeric"]) == {"age"}
    assert model.user_spec is not None and model.user_spec.profile_dim == 0  # no profile is visible at a first event
    assert {"user_attributes"} <= set(io.read_json(io.join(directory, "data_versions.json")))
    assert run(lake, "export", "--run-id", "users") == 0  # the trained tower becomes graph inputs
    exported = json.loads(capsys.readouterr().out)
    assert exported["user_inputs"] == {"user_categorical": 1, "user_numeric": 1}
    assert all(check["ranking_equal"] for check in exported["parity"])

    assert run(lake, "train", "--run-id", "plain") == 0  # the default: no tower
    plain = json.loads(capsys.readouterr().out)["artifact_dir"]
    assert load_artifact(plain)[2]["user_features"] is None


@pytest.mark.slow
def test_profiles_of_earlier_nights_reach_the_trained_tower(lake, capsys):
    """Night 1 builds features on the first half of the events with its profiles; night 2 on all
    of them with new profiles. Training on night 2 reads night 1's profiles at the positions after
    them (the point-in-time join per position), so the profile projection learns and is exported."""
    from recaug.features.build import build_features
    from recaug.features.store import apply_definitions

    interactions = io.read_parquet(lake.lake.interactions)
    augmented_url = lake.lake.url("augment", "interactions.parquet")
    augmented = io.read_parquet(augmented_url)
    users = sorted(interactions["user_id"].unique())
    rng = np.random.default_rng(1)

    def profiles() -> pd.DataFrame:
        return pd.DataFrame({"user_id": users, "embedding": list(rng.normal(size=(len(users), 8)).astype(np.float32)),
                             "encoder": "test-vectors", "encoder_version": "1", "content_hash": "x"})

    cut = interactions["timestamp"].quantile(0.5)
    io.write_parquet(interactions[interactions["timestamp"] < cut], lake.lake.interactions)
    io.write_parquet(augmented[augmented["timestamp"] < cut], augmented_url)
    io.write_parquet(profiles(), lake.lake.url("embeddings", "users.parquet"))
    build_features(lake)
    io.write_parquet(interactions, lake.lake.interactions)
    io.write_parquet(augmented, augmented_url)
    io.write_parquet(profiles(), lake.lake.url("embeddings", "users.parquet"))
    build_features(lake)
    apply_definitions(lake)

    assert run(lake, "train", "--run-id", "nights", "--set", "model.use_user_features=true") == 0
    directory = json.loads(capsys.readouterr().out)["artifact_dir"]
    model, _, params = load_artifact(directory)
    assert params["user_features"]["profile_dim"] == 8
    assert model.user_tower.profile.weight.abs().sum() > 0  # it started at zero: training moved it
    assert run(lake, "export", "--run-id", "nights") == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["user_inputs"] == {"user_profile": 8} and all(c["ranking_equal"] for c in exported["parity"])
