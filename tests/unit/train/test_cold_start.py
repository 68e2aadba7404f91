from __future__ import annotations

import pytest

from recaug.models.fusion_sasrec import FusionSASRec
from recaug.models.gru4rec import GRU4Rec
from recaug.train.cold_start import BIASES, SIMILARITIES, choose_boost
from recaug.train.dataset import build_sequences
from recaug.train.evaluate import evaluate_recommender
from recaug.train.loop import fit, seed_everything


def candidate(bias, ndcg, cold):
    return {"bias": bias, "similarity": 0.0, "valid_ndcg@10": ndcg, "valid_cold_hr@10": cold}


NO_BOOST = candidate(0.0, 0.100, 0.01)


def test_best_ndcg_among_boosts_reaching_the_reference_within_the_budget():
    candidates = [NO_BOOST, candidate(0.5, 0.098, 0.05), candidate(1.0, 0.095, 0.09), candidate(1.5, 0.093, 0.10),
                  candidate(2.0, 0.080, 0.20)]
    assert choose_boost(candidates, reference=0.08, max_ndcg_loss=0.1)["bias"] == 1.0
    # 2.0 reaches more cold items but costs 20% of NDCG: outside a 10% budget, inside a 25% one
    assert choose_boost(candidates, reference=0.15, max_ndcg_loss=0.1)["bias"] == 1.5  # best cold in budget
    assert choose_boost(candidates, reference=0.15, max_ndcg_loss=0.25)["bias"] == 2.0


def test_no_boost_when_none_helps_cold_items_or_there_is_no_budget():
    flat = [NO_BOOST, candidate(0.5, 0.099, 0.01), candidate(1.0, 0.090, 0.01)]
    assert choose_boost(flat, reference=0.05, max_ndcg_loss=0.1)["bias"] == 0.0
    assert choose_boost([NO_BOOST, candidate(0.5, 0.099, 0.2)], reference=0.05, max_ndcg_loss=0.0)["bias"] == 0.0
    assert choose_boost([NO_BOOST, candidate(0.5, 0.099, 0.2)], reference=None, max_ndcg_loss=0.1)["bias"] == 0.5


@pytest.fixture
def trained(market, tiny_model_config):
    """A model fitted with 'cold' meaning under 80 fitted events: the small market has cold targets, and
    one boost (bias 0.5) lifts both validation NDCG@10 and cold-item HR@10 over no boost."""
    from recaug.train.config import TrainConfig

    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    config = TrainConfig(epochs=3, batch_size=16, learning_rate=3e-3, num_threads=1, cold_item_threshold=80)
    seed_everything(config.seed)  # the initial weights too: the boost chosen below does not depend on test order
    model = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    return model, data, config, fit(model, data, config)


def test_fit_chooses_the_boost_on_validation_cases_and_records_every_candidate(trained):
    model, data, config, result = trained
    boost = result.cold_boost
    assert (data.train_counts[data.valid.targets] < 80).any()
    assert len(boost["candidates"]) == len(BIASES) * len(SIMILARITIES)
    assert boost["candidates"][0]["bias"] == boost["candidates"][0]["similarity"] == 0.0
    assert boost["reference_cold_hr@10"] is not None  # the text-similarity baseline's, on validation
    # every candidate was scored with its boost applied, and the rule's choice is a real boost
    assert len({c["valid_cold_hr@10"] for c in boost["candidates"]}) > 1
    rule = choose_boost(boost["candidates"], boost["reference_cold_hr@10"], config.cold_boost_max_ndcg_loss)
    assert (boost["bias"], boost["similarity"]) == (rule["bias"], rule["similarity"]) != (0.0, 0.0)
    channel = model.text_channel
    assert (int(channel.cold_count), float(channel.cold_bias), float(channel.cold_similarity)) == (
        80, boost["bias"], boost["similarity"])
    valid = evaluate_recommender(model, data.valid, data, config, model.config.max_length)
    assert valid["overall"]["ndcg@10"] == pytest.approx(boost["valid_ndcg@10"])
    assert valid["cold_items"]["hr@10"] == pytest.approx(boost["valid_cold_hr@10"])
    assert boost["valid_ndcg@10"] >= (1 - config.cold_boost_max_ndcg_loss) * boost["candidates"][0]["valid_ndcg@10"]


def test_no_boost_when_off_without_cold_validation_targets_or_without_a_text_channel(market, tiny_model_config):
    from recaug.train.config import TrainConfig

    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    config = TrainConfig(epochs=1, batch_size=16, num_threads=1, cold_boost="off")
    model = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    assert fit(model, data, config).cold_boost is None
    assert float(model.text_channel.cold_bias) == float(model.text_channel.cold_similarity) == 0.0
    no_cold_targets = config.model_copy(update={"cold_boost": "auto", "cold_item_threshold": 0})
    assert fit(model, data, no_cold_targets).cold_boost is None
    gru = GRU4Rec(tiny_model_config, data.num_items)
    assert fit(gru, data, config.model_copy(update={"cold_boost": "auto"})).cold_boost is None
