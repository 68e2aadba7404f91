from __future__ import annotations

import pytest
import torch

from recaug import io
from recaug.errors import RecaugError
from recaug.models.artifact import model_params, save_artifact
from recaug.models.fusion_sasrec import FusionSASRec
from recaug.train.dataset import build_sequences
from recaug.train.evaluate import evaluate_recommender
from recaug.train.gate import gate, read_champion
from recaug.train.run import data_versions


@pytest.fixture
def lake_with_data(settings, market):
    interactions, items, _ = market
    io.write_parquet(interactions, settings.lake.interactions)
    io.write_parquet(items, settings.lake.items)
    return settings


def make_artifact(settings, run_id, valid_ndcg, tiny_model_config, versions=None, vocab=None, seed=0, mmr=None):
    data = build_sequences(io.read_parquet(settings.lake.interactions), io.read_parquet(settings.lake.items))
    vocab = vocab or data.vocab
    torch.manual_seed(seed)
    model = FusionSASRec(tiny_model_config, len(vocab) - 1)
    directory = settings.lake.url("models", run_id)
    metrics = {"valid": {"overall": {"ndcg@10": valid_ndcg}}, "test": {"overall": {}}, "mmr": mmr}
    save_artifact(directory, model, vocab, model_params(model, {"run_id": run_id}), metrics,
                  versions if versions is not None else data_versions(settings))
    return directory, model, data


def gate_record(directory):
    return io.read_json(io.join(directory, "gate.json"))


def deploy_record(settings, directory, version, outcome="deployed"):
    """What the deploy stage writes after an attempt (the only way a model becomes live)."""
    from recaug.deploy.deploy import DeployRecord, write_record

    write_record(settings, DeployRecord(
        model_name=settings.deploy.model_name, version=version, deployed_at=f"2026-01-0{version}T00:00:00+00:00",
        model_sha256="0" * 64, artifact_dir=directory, target="local:127.0.0.1:1", model_format="python",
        outcome=outcome))


def test_first_model_is_proposed_and_nothing_is_promoted_by_the_gate(lake_with_data, tiny_model_config):
    directory, _, _ = make_artifact(lake_with_data, "run-1", 0.10, tiny_model_config)
    decision = gate(lake_with_data, directory)
    assert decision.deploy and decision.reason == "no model is live yet"
    assert read_champion(lake_with_data) is None  # proposing is not promoting
    assert not io.exists(lake_with_data.lake.url("models", "champion.json"))
    assert gate_record(directory)["challenger_value"] == 0.10


def test_a_proposed_model_that_was_not_deployed_is_no_champion(lake_with_data, tiny_model_config):
    """Deploy off or failed: the next gate still compares against what really serves."""
    live_dir, _, _ = make_artifact(lake_with_data, "run-1", 0.10, tiny_model_config)
    deploy_record(lake_with_data, live_dir, 1)
    proposed_dir, _, _ = make_artifact(lake_with_data, "run-2", 0.30, tiny_model_config)
    assert gate(lake_with_data, proposed_dir).deploy
    deploy_record(lake_with_data, proposed_dir, 2, outcome="rejected")
    deploy_record(lake_with_data, proposed_dir, 3, outcome="in_progress")
    champion = read_champion(lake_with_data)
    assert (champion.run_id, champion.version) == ("run-1", 1)
    worse_dir, _, _ = make_artifact(lake_with_data, "run-3", 0.20, tiny_model_config)
    decision = gate(lake_with_data, worse_dir)
    assert decision.deploy and (decision.champion_run, decision.champion_version) == ("run-1", 1)


def test_worse_challenger_is_rejected_and_the_live_model_kept(lake_with_data, tiny_model_config):
    champion_dir, _, _ = make_artifact(lake_with_data, "run-1", 0.10, tiny_model_config)
    deploy_record(lake_with_data, champion_dir, 1)
    worse_dir, _, _ = make_artifact(lake_with_data, "run-2", 0.09, tiny_model_config)
    decision = gate(lake_with_data, worse_dir)
    assert not decision.deploy
    assert (decision.challenger_value, decision.champion_value) == (0.09, 0.10)
    assert read_champion(lake_with_data).run_id == "run-1"
    record = gate_record(worse_dir)
    assert record["deploy"] is False and record["champion_run"] == "run-1" and record["champion_value"] == 0.10
    assert record["champion_version"] == 1 and "version 1 is live" in record["champion_source"]


def test_challenger_within_tolerance_is_proposed_and_live_after_its_deploy(lake_with_data, tiny_model_config):
    champion_dir, _, _ = make_artifact(lake_with_data, "run-1", 0.100, tiny_model_config)
    deploy_record(lake_with_data, champion_dir, 1)
    close_dir, _, _ = make_artifact(lake_with_data, "run-2", 0.099, tiny_model_config)  # tolerance 0.002
    assert gate(lake_with_data, close_dir).deploy
    assert read_champion(lake_with_data).run_id == "run-1"
    deploy_record(lake_with_data, close_dir, 2)
    assert read_champion(lake_with_data).run_id == "run-2"
    assert gate(lake_with_data, close_dir).reason == "already the live model"


def test_legacy_champion_file_counts_only_until_the_first_deploy(lake_with_data, tiny_model_config):
    legacy_dir, _, _ = make_artifact(lake_with_data, "run-1", 0.50, tiny_model_config)
    io.write_json(lake_with_data.lake.url("models", "champion.json"), {"run_id": "run-1", "artifact_dir": legacy_dir})
    challenger_dir, _, _ = make_artifact(lake_with_data, "run-2", 0.10, tiny_model_config)
    decision = gate(lake_with_data, challenger_dir)
    assert not decision.deploy and "legacy" in decision.champion_source
    live_dir, _, _ = make_artifact(lake_with_data, "run-3", 0.05, tiny_model_config)
    deploy_record(lake_with_data, live_dir, 1)
    decision = gate(lake_with_data, challenger_dir)
    assert decision.deploy and decision.champion_run == "run-3"


def test_champion_from_other_data_is_reevaluated_on_the_challengers_data(lake_with_data, tiny_model_config):
    data = build_sequences(io.read_parquet(lake_with_data.lake.interactions), io.read_parquet(lake_with_data.lake.items))
    older_vocab = data.vocab[:-1]  # the champion never saw the newest item
    champion_dir, champion, _ = make_artifact(lake_with_data, "run-1", 0.99, tiny_model_config,
                                              versions={"interactions": "older-data"}, vocab=older_vocab, seed=1)
    io.write_json(lake_with_data.lake.url("models", "champion.json"), {"run_id": "run-1", "artifact_dir": champion_dir})
    challenger_dir, _, _ = make_artifact(lake_with_data, "run-2", 0.0, tiny_model_config)
    decision = gate(lake_with_data, challenger_dir)
    assert decision.champion_reevaluated
    from recaug.train.evaluate import VocabularyAdapter

    expected = evaluate_recommender(VocabularyAdapter(champion.eval(), older_vocab, data.vocab), data.valid, data,
                                    lake_with_data.train, tiny_model_config.max_length)["overall"]["ndcg@10"]
    assert decision.champion_value == pytest.approx(expected)
    assert decision.champion_value != 0.99  # the stored number from other data was not used


def test_gate_needs_a_trained_artifact(lake_with_data, tmp_path):
    with pytest.raises(RecaugError, match="missing metrics.json"):
        gate(lake_with_data, str(tmp_path / "nothing"))


def test_champion_that_current_code_cannot_load_does_not_block_the_pipeline(lake_with_data, tiny_model_config):
    champion_dir, _, _ = make_artifact(lake_with_data, "run-1", 0.99, tiny_model_config,
                                       versions={"interactions": "older-data"})
    state = torch.load(io.join(champion_dir, "model.pt"), weights_only=True)
    state.pop(next(iter(state)))  # as if written by older model code with one parameter fewer
    torch.save(state, io.join(champion_dir, "model.pt"))
    io.write_json(lake_with_data.lake.url("models", "champion.json"), {"run_id": "run-1", "artifact_dir": champion_dir})
    challenger_dir, _, _ = make_artifact(lake_with_data, "run-2", 0.05, tiny_model_config)
    decision = gate(lake_with_data, challenger_dir)
    assert decision.deploy and decision.champion_value is None
    assert "run-1 cannot be evaluated by this code" in decision.reason
    assert read_champion(lake_with_data).run_id == "run-1"  # still live until run-2 is deployed


def with_floors(settings, coverage: float, diversity: float):
    return settings.model_copy(update={"train": settings.train.model_copy(
        update={"gate_min_coverage": coverage, "gate_min_diversity": diversity})})


MMR = {"chosen_weight": 0.3, "valid": [
    {"weight": 0.0, "ndcg@10": 0.100, "coverage@10": 0.05, "diversity@10": 0.30},
    {"weight": 0.3, "ndcg@10": 0.099, "coverage@10": 0.08, "diversity@10": 0.45},
]}


def test_floors_met_at_the_default_mmr_weight_let_the_challenger_through(lake_with_data, tiny_model_config):
    settings = with_floors(lake_with_data, coverage=0.07, diversity=0.40)  # met at 0.3, not in the model's order
    directory, _, _ = make_artifact(settings, "run-1", 0.10, tiny_model_config, mmr=MMR)
    decision = gate(settings, directory)
    assert decision.deploy and decision.reason == "no model is live yet"
    assert [(f.metric, f.value, f.mmr_weight, f.passed) for f in decision.floors] == [
        ("coverage@10", 0.08, 0.3, True), ("diversity@10", 0.45, 0.3, True)]
    assert gate_record(directory)["floors"][0]["floor"] == 0.07


def test_a_missed_floor_keeps_the_live_model_and_says_which_and_by_how_much(lake_with_data, tiny_model_config):
    settings = with_floors(lake_with_data, coverage=0.10, diversity=0.40)
    champion_dir, _, _ = make_artifact(settings, "run-1", 0.05, tiny_model_config)
    deploy_record(settings, champion_dir, 1)
    challenger_dir, _, _ = make_artifact(settings, "run-2", 0.10, tiny_model_config, mmr=MMR)
    decision = gate(settings, challenger_dir)
    assert not decision.deploy
    assert decision.reason == ("challenger ndcg@10 0.1000 >= champion 0.0500 - tolerance 0.002; but coverage@10 "
                               "0.0800 is below the floor 0.1000 by 0.0200 (validation top lists at MMR weight 0.3)")
    assert [f.passed for f in decision.floors] == [False, True]
    assert gate_record(challenger_dir)["deploy"] is False


def test_both_floors_missed_are_both_named(lake_with_data, tiny_model_config):
    settings = with_floors(lake_with_data, coverage=0.5, diversity=0.6)
    directory, _, _ = make_artifact(settings, "run-1", 0.10, tiny_model_config, mmr=MMR)
    decision = gate(settings, directory)
    assert not decision.deploy
    assert decision.reason.startswith("no model is live yet; but coverage@10 0.0800 is below the floor 0.5000 by 0.4200")
    assert "diversity@10 0.4500 is below the floor 0.6000 by 0.1500" in decision.reason


def test_without_an_mmr_curve_the_floors_apply_to_the_models_own_order(lake_with_data, tiny_model_config):
    settings = with_floors(lake_with_data, coverage=0.07, diversity=0.0)  # 0 = no diversity floor
    directory, _, _ = make_artifact(settings, "run-1", 0.10, tiny_model_config)
    metrics = io.read_json(io.join(directory, "metrics.json"))
    metrics["valid"]["overall"]["coverage@10"] = 0.05
    io.write_json(io.join(directory, "metrics.json"), metrics)
    decision = gate(settings, directory)
    assert not decision.deploy and "coverage@10 0.0500 is below the floor 0.0700 by 0.0200" in decision.reason
    assert decision.reason.endswith("at MMR weight 0)") and [f.metric for f in decision.floors] == ["coverage@10"]


def test_floors_of_a_challenger_from_other_data_are_measured_on_todays_data(lake_with_data, tiny_model_config):
    """Re-evaluated on the current lake (no text embeddings here: diversity cannot be measured and
    does not block; coverage is measured on today's validation lists)."""
    settings = with_floors(lake_with_data, coverage=0.99, diversity=0.5)
    directory, _, data = make_artifact(settings, "run-1", 0.10, tiny_model_config, mmr=MMR,
                                       versions={"interactions": "older-data"})
    decision = gate(settings, directory)
    coverage, diversity = decision.floors
    assert diversity.value is None and diversity.passed is None
    assert 0 < coverage.value < 0.99 and coverage.value != 0.08 and coverage.passed is False
    assert coverage.value * data.num_items == pytest.approx(round(coverage.value * data.num_items))
    assert not decision.deploy and "coverage@10" in decision.reason and "diversity@10" not in decision.reason
