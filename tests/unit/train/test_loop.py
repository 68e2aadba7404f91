from __future__ import annotations

import shutil

import torch

from recaug.models.fusion_sasrec import FusionSASRec
from recaug.models.gru4rec import GRU4Rec
from recaug.models.most_pop import MostPop
from recaug.train.dataset import build_sequences
from recaug.train.evaluate import evaluate_recommender
from recaug.train.loop import fit, seed_everything


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
    config = tiny_train_config.model_copy(update={"epochs": 4, "patience": 100, "min_delta": -1.0})
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
    assert result.best_valid == max(scores)
    final = evaluate_recommender(model, data.valid, data, config, tiny_model_config.max_length)["overall"]["ndcg@10"]
    assert final == result.best_valid
    if result.stopped_early:
        assert len(scores) - result.best_epoch == config.patience


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
