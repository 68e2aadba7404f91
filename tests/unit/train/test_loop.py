from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from recaug.models.fusion_sasrec import FusionSASRec
from recaug.models.gru4rec import GRU4Rec
from recaug.models.most_pop import MostPop
from recaug.train.config import TrainConfig
from recaug.train.dataset import build_sequences
from recaug.train.evaluate import evaluate_recommender
from recaug import hardware
from recaug.train.loop import autocast_dtype, fit, learning_rate, parameter_groups, seed_everything, training_batches


def test_fusion_sasrec_learns_planted_sequences_and_beats_most_pop(market, tiny_model_config, tiny_train_config):
    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    model = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    result = fit(model, data, tiny_train_config.model_copy(update={"epochs": 8}))
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    ours = evaluate_recommender(model, data.test, data, tiny_train_config, tiny_model_config.max_length)["overall"]
    pop = evaluate_recommender(MostPop.fit(data), data.test, data, tiny_train_config, 20)["overall"]
    assert ours["ndcg@10"] > 1.5 * pop["ndcg@10"], (ours, pop)
    assert ours["hr@10"] > pop["hr@10"]


def test_gru4rec_trains_in_the_same_loop(market, tiny_model_config, tiny_train_config):
    interactions, items, _ = market
    data = build_sequences(interactions, items)
    model = GRU4Rec(tiny_model_config, data.num_items)
    result = fit(model, data, tiny_train_config.model_copy(update={"epochs": 3}))
    assert len(result.history) == 3 and result.best_epoch >= 1
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_same_seed_gives_identical_weights(market, tiny_model_config, tiny_train_config):
    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    config = tiny_train_config.model_copy(update={"epochs": 2})
    states = []
    for _ in range(2):
        seed_everything(config.seed)
        model = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
        fit(model, data, config)
        states.append(model.state_dict())
    for name, tensor in states[0].items():
        assert torch.equal(tensor, states[1][name]), name
    other = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    fit(other, data, config.model_copy(update={"seed": 7}))
    assert not torch.equal(other.state_dict()["blocks.0.attention.qkv.weight"], states[0]["blocks.0.attention.qkv.weight"])


def test_resume_from_checkpoint_matches_an_uninterrupted_run(market, tiny_model_config, tiny_train_config, tmp_path):
    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    # constant learning rate: the "crashed" run below is cut short by a smaller epoch budget, which would
    # otherwise change its linear schedule (a real crash keeps the configuration)
    config = tiny_train_config.model_copy(update={"epochs": 4, "patience": 100, "min_delta": -1.0,
                                                  "lr_schedule": "constant"})
    seed_everything(config.seed)
    straight = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    fit(straight, data, config)

    checkpoint = str(tmp_path / "checkpoint.pt")
    seed_everything(config.seed)
    first = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    fit(first, data, config.model_copy(update={"epochs": 2}), checkpoint_url=checkpoint, checkpoint_key="k")
    # "crash" after epoch 2; a checkpoint written for other inputs is not resumed
    foreign = str(shutil.copy(checkpoint, tmp_path / "foreign.pt"))
    assert fit(FusionSASRec(tiny_model_config, data.num_items, data.item_features()), data,
               config.model_copy(update={"epochs": 1}), checkpoint_url=foreign, checkpoint_key="other"
               ).resumed_from_epoch == 0
    resumed = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    result = fit(resumed, data, config, checkpoint_url=checkpoint, checkpoint_key="k")
    assert result.resumed_from_epoch == 3
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


def test_early_stopping_restores_the_best_epoch(market, tiny_model_config, tiny_train_config):
    interactions, items, _ = market
    data = build_sequences(interactions, items)
    # a learning rate far too high makes validation collapse after the first epochs
    config = tiny_train_config.model_copy(update={"epochs": 12, "patience": 2, "learning_rate": 0.3})
    model = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    result = fit(model, data, config)
    scores = [row["valid_ndcg@10"] for row in result.history]
    assert result.stopped_early and len(scores) < config.epochs  # the loop stopped before its epoch budget
    assert len(scores) - result.best_epoch == config.patience  # ... exactly `patience` epochs after the best one
    assert result.best_valid == max(scores) == scores[result.best_epoch - 1] > scores[-1]
    final = evaluate_recommender(model, data.valid, data, config, tiny_model_config.max_length)["overall"]["ndcg@10"]
    assert final == result.best_valid  # the best weights are back, not the last epoch's
    assert result.stop_reason == "converged" and not result.still_improving and result.warning is None


def test_a_run_still_improving_at_the_cap_is_flagged(market, tiny_model_config, tiny_train_config):
    interactions, items, _ = market
    data = build_sequences(interactions, items)
    # two epochs of a learnable structure: validation still rises at the cap
    config = tiny_train_config.model_copy(update={"epochs": 2, "min_relative_delta": 0.0})
    result = fit(FusionSASRec(tiny_model_config, data.num_items, data.item_features()), data, config)
    scores = [row["valid_ndcg@10"] for row in result.history]
    assert scores[1] > scores[0], scores
    assert (result.stop_reason, result.best_epoch, result.still_improving) == ("cap", 2, True)
    assert "still improving" in result.warning


def test_a_step_budget_trains_a_fresh_share_of_the_windows_each_epoch(market, tiny_model_config, tiny_train_config):
    interactions, items, _ = market
    data = build_sequences(interactions, items)
    config = tiny_train_config.model_copy(update={"epochs": 2, "max_steps_per_epoch": 2})
    full = fit(FusionSASRec(tiny_model_config, data.num_items, data.item_features()), data,
               config.model_copy(update={"epochs": 1, "max_steps_per_epoch": None}))
    assert full.history[0]["steps"] > 2
    result = fit(FusionSASRec(tiny_model_config, data.num_items, data.item_features()), data, config)
    assert [row["steps"] for row in result.history] == [2, 2]  # validated after each short epoch
    windows = data.training_windows(tiny_model_config.max_length)
    lengths = (windows.targets > 0).sum(axis=1)
    first, second = (training_batches(lengths, config.batch_size, config.seed * 1000 + e)[:2] for e in (1, 2))
    assert set(np.concatenate(first)) != set(np.concatenate(second))


def test_the_time_budget_ends_an_epoch_between_steps(market, tiny_model_config, tiny_train_config):
    interactions, items, _ = market
    data = build_sequences(interactions, items)
    config = tiny_train_config.model_copy(update={"epochs": 3, "max_seconds": 1e-9})
    result = fit(FusionSASRec(tiny_model_config, data.num_items, data.item_features()), data, config)
    assert [row["steps"] for row in result.history] == [1]  # one step, then the budget is spent
    assert result.stop_reason == "time" and result.best_epoch == 1


def test_a_long_epoch_logs_its_progress(market, tiny_model_config, tiny_train_config, monkeypatch, caplog):
    import logging

    from recaug.train import loop

    interactions, items, _ = market
    data = build_sequences(interactions, items)
    monkeypatch.setattr(loop, "PROGRESS_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="recaug.train.loop"):
        fit(FusionSASRec(tiny_model_config, data.num_items, data.item_features()), data,
            tiny_train_config.model_copy(update={"epochs": 1, "max_steps_per_epoch": 3}))
    progress = [r.getMessage() for r in caplog.records if "steps/s" in r.getMessage()]
    assert [m.split(",")[0] for m in progress] == [f"fusion_sasrec epoch 1: step {s} of 3" for s in (1, 2, 3)]


def test_position_losses_are_cross_entropy_over_real_items_only():
    from recaug.models.config import ModelConfig
    from recaug.models.layers import ItemFeatures
    from recaug.train.loop import _position_losses

    torch.manual_seed(0)
    model = FusionSASRec(ModelConfig(hidden_size=16, num_heads=2, max_length=6, dropout=0.0), 12,
                         ItemFeatures.empty(12)).eval()
    inputs = torch.tensor([[0, 0, 3, 4, 5], [1, 2, 3, 4, 5]])
    times = torch.arange(10, dtype=torch.long).view(2, 5) * 1000
    targets = torch.tensor([[0, 0, 0, 0, 6], [0, 0, 0, 0, 12]])  # the newest position: what serving scores
    losses = _position_losses(model, inputs, times, targets, times + 500)
    scores = model.score(inputs, times, times[:, -1] + 500)
    scores[:, 0] = float("-inf")  # the padding index is never a candidate
    expected = torch.nn.functional.cross_entropy(scores, targets[:, -1], reduction="none")
    assert torch.allclose(losses, expected, atol=1e-5)


def test_training_batches_hold_every_window_once_in_length_buckets():
    lengths = np.random.default_rng(0).integers(1, 200, size=1000)
    batches = training_batches(lengths, batch_size=32, seed=5)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    # one pool of 4 batches holds windows of similar length: cells mostly events, not padding
    cells = sum(len(b) * lengths[b].max() for b in batches)
    assert lengths.sum() / cells > 0.7
    random_cells = sum(len(b) * lengths[b].max() for b in training_batches(lengths, 32, seed=5, bucketed=False))
    assert cells < 0.8 * random_cells
    assert [b.tolist() for b in batches] == [b.tolist() for b in training_batches(lengths, 32, seed=5)]
    assert [b.tolist() for b in batches] != [b.tolist() for b in training_batches(lengths, 32, seed=6)]


def test_linear_schedule_decays_to_zero_at_the_last_epoch():
    config = TrainConfig(epochs=10, learning_rate=2e-3, lr_schedule="linear")
    assert learning_rate(config, 0.0) == pytest.approx(2e-3)
    assert learning_rate(config, 5.0) == pytest.approx(1e-3)
    assert learning_rate(config, 10.0) == 0.0
    assert learning_rate(config.model_copy(update={"lr_schedule": "constant"}), 9.5) == 2e-3


def test_evaluation_cut_to_each_batch_longest_history_scores_as_max_length_padding(market, tiny_model_config,
                                                                                   tiny_train_config):
    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    model = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    fit(model, data, tiny_train_config.model_copy(update={"epochs": 1}))
    trimmed = evaluate_recommender(model, data.test, data, tiny_train_config, tiny_model_config.max_length)
    model.padding_invariant = False  # evaluate every batch at max_length, in case order
    padded = evaluate_recommender(model, data.test, data, tiny_train_config, tiny_model_config.max_length)
    for part in ("overall", "cold_items", "cold_users"):
        assert trimmed[part] == pytest.approx(padded[part], abs=1e-6)


def test_scalar_parameters_get_the_larger_learning_rate(market, tiny_model_config):
    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    model = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    weights, scalars = parameter_groups(model, 10.0)
    assert (weights["lr_scale"], scalars["lr_scale"]) == (1.0, 10.0)
    ids = {id(p) for p in scalars["params"]}
    for scalar in (model.text_channel.log_alpha, model.text_channel.shift, model.items.gate_shift):
        assert id(scalar) in ids
    assert all(p.ndim > 0 for p in weights["params"])
    assert len(weights["params"]) + len(scalars["params"]) == len(list(model.parameters()))
    gru = GRU4Rec(tiny_model_config, data.num_items)
    assert [g["lr_scale"] for g in parameter_groups(gru, 10.0)] == [1.0]  # no scalars, no empty group


def test_cpu_autocast_only_where_bf16_is_native(monkeypatch):
    cpu = torch.device("cpu")
    assert autocast_dtype(False, cpu) is None
    monkeypatch.setattr(hardware, "native_half_precision", lambda device: "bf16")
    assert autocast_dtype(True, cpu) == torch.bfloat16
    monkeypatch.setattr(hardware, "native_half_precision", lambda device: None)
    assert autocast_dtype(True, cpu) is None  # emulated bf16 is slower than fp32


def test_bf16_autocast_training_still_learns(market, tiny_model_config, tiny_train_config, monkeypatch):
    # emulated where the CPU lacks it: slow, not wrong
    monkeypatch.setattr(hardware, "native_half_precision", lambda device: "bf16")
    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    model = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    result = fit(model, data, tiny_train_config)
    assert all(np.isfinite(row["loss"]) for row in result.history)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast computes in bf16, keeps fp32 weights
    popular = evaluate_recommender(MostPop.fit(data), data.test, data, tiny_train_config, tiny_model_config.max_length)
    ours = evaluate_recommender(model, data.test, data, tiny_train_config, tiny_model_config.max_length)
    assert ours["overall"]["ndcg@10"] > popular["overall"]["ndcg@10"]
