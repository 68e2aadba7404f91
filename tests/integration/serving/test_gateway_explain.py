"""Explanations through the real gateway (real Triton, Feast on SQLite) for a model trained
on a synthetic marketplace, and their faithfulness measured with that model's ONNX file."""

from __future__ import annotations

import pytest

from recaug import io
from recaug.serving_gateway import explain

from explain_helpers import NEW_ITEMS, explained_world
from gateway_helpers import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(serving_root, triton):
    """(settings, artifact_dir, catalogue, enrichment): a FusionSASRec trained on a synthetic
    marketplace, exported, deployed to the session's Triton, with its features in Feast."""
    from recaug.data.config import SynthConfig

    root = serving_root / "explain"
    root.mkdir()
    synth = SynthConfig(seed=5, n_users=150, n_items=60, n_interactions=6000, n_topics=4, n_days=8)
    return explained_world(root, triton.home, synth, model={"hidden_size": 32, "num_layers": 1, "max_length": 20},
                           epochs=6, top_k=None)


@pytest.fixture(scope="module")
def client(world):
    from fastapi.testclient import TestClient

    from recaug.serving_gateway.app import create_app

    with TestClient(create_app(world[0])) as test_client:
        yield test_client


def users_with_history(settings, count: int) -> list:
    from recaug.features.online import get_user_context

    events = io.read_parquet(settings.lake.interactions)
    ids = events.groupby("user_id").size().sort_values(ascending=False, kind="stable").index[:count].tolist()
    return get_user_context(ids, settings)


def test_model_answers_cite_events_of_the_users_own_history(client, world):
    from recaug.export.evidence import read_evidence

    settings, artifact, items, enrichment = world
    max_length = read_evidence(artifact).max_length
    titles = dict(zip(items["item_id"], items["title"]))
    descriptions = dict(zip(enrichment["item_id"], enrichment["description"]))
    kinds = set()
    for context in users_with_history(settings, 8):
        body = client.get("/recommend", params={"user_id": context.user_id, "k": 10}).json()
        assert body["source"] == "model", body
        read_by_model = context.history_item_ids[-max_length:]
        for item in body["items"]:
            assert item["reasons"], item
            assert item["description"] == descriptions[item["item_id"]]
            for reason in item["reasons"]:
                kinds.add(reason["kind"])
                if reason["kind"] in (explain.HISTORY, explain.SIMILAR_NEW_ITEM, explain.SHARED_KEYWORDS):
                    cited = reason["evidence"]["item_id"]
                    assert cited in read_by_model, (context.user_id, reason)
                    assert titles[cited] in reason["text"]
                if reason["kind"] in (explain.HISTORY, explain.SIMILAR_NEW_ITEM):
                    steps_back = reason["evidence"]["steps_back"]
                    assert context.history_item_ids[-1 - steps_back] == reason["evidence"]["item_id"]
    assert explain.HISTORY in kinds and explain.SHARED_KEYWORDS in kinds


def test_cold_items_are_explained_by_their_similarity_to_the_history(client, world):
    """With k = the whole catalogue every unseen item is answered: the brand-new ones (no
    training event) are cited through the text channel, warm ones through the item matrix."""
    from recaug.export.evidence import read_evidence

    settings, artifact, _, _ = world
    evidence = read_evidence(artifact)
    vocab = io.read_json(io.join(artifact, "item_vocab.json"))
    cold = {item for index, item in enumerate(vocab) if item is not None and evidence.is_cold(index)}
    assert {f"new-{i}" for i in range(NEW_ITEMS)} <= cold
    context = users_with_history(settings, 1)[0]
    items = client.get("/recommend", params={"user_id": context.user_id, "k": settings.export.top_k}).json()["items"]
    cited_kinds = {item["item_id"]: item["reasons"][0]["kind"] for item in items
                   if item["reasons"][0]["kind"] in (explain.HISTORY, explain.SIMILAR_NEW_ITEM)}
    new_items = [f"new-{i}" for i in range(NEW_ITEMS)]
    assert all(cited_kinds.get(item) == explain.SIMILAR_NEW_ITEM for item in new_items), cited_kinds
    assert all(kind == explain.SIMILAR_NEW_ITEM for item, kind in cited_kinds.items() if item in cold)
    assert any(kind == explain.HISTORY for item, kind in cited_kinds.items() if item not in cold)
    reason = next(item["reasons"][0] for item in items if item["item_id"] == new_items[0])
    assert reason["text"].startswith("New item, similar to ") and reason["evidence"]["training_events"] == 0


def test_popular_and_fallback_answers_carry_a_popularity_reason(client, world):
    from fastapi.testclient import TestClient

    from recaug.serving_gateway.app import create_app
    from recaug.serving_gateway.service import RecommendationService, TritonEndpoint

    settings = world[0]
    body = client.get("/recommend", params={"user_id": "nobody-knows-me", "k": 4}).json()
    assert body["source"] == "popular"
    ranks = [item["reasons"][0]["evidence"]["rank"] for item in body["items"]]
    assert ranks == [1, 2, 3, 4] and all(item["reasons"][0]["kind"] == explain.POPULAR for item in body["items"])
    assert all("fallback" not in item["reasons"][0]["evidence"] for item in body["items"])

    # a gateway whose Triton address answers nothing: popular items, saying why
    dead = TritonEndpoint("grpc", f"127.0.0.1:{free_port()}")
    service = RecommendationService(settings, triton_endpoint=lambda: dead)
    with TestClient(create_app(settings, service=service)) as no_triton:
        context = users_with_history(settings, 1)[0]
        body = no_triton.get("/recommend", params={"user_id": context.user_id, "k": 4}).json()
    assert body["source"] == "fallback:triton_unavailable"
    for item in body["items"]:
        [reason] = item["reasons"]
        assert reason["kind"] == explain.POPULAR and reason["evidence"]["fallback"] == body["source"]
        assert item["item_id"] not in context.history_item_ids


def test_explanations_can_be_turned_off(client, world):
    context = users_with_history(world[0], 1)[0]
    plain = client.get("/recommend", params={"user_id": context.user_id, "k": 5, "explain": "false"}).json()
    explained = client.get("/recommend", params={"user_id": context.user_id, "k": 5}).json()
    assert [i["item_id"] for i in plain["items"]] == [i["item_id"] for i in explained["items"]]
    assert all(item["reasons"] == [] for item in plain["items"])


def test_removing_the_cited_event_lowers_the_items_score_more_often_than_a_random_event(world):
    """The explanation is evidence, not decoration: through the deployed model.onnx, taking the
    cited event out of the history lowers the item's score in most cases, and clearly more
    often than taking out a random event the model reads."""
    from recaug.serving_gateway.faithfulness import CITED, RANDOM, UserHistory, measure

    settings, artifact, _, _ = world
    events = io.read_parquet(settings.lake.interactions)
    now = int(events["timestamp"].max().timestamp()) + 3600
    users = [UserHistory(c.user_id, c.history_item_ids, c.history_timestamps, now)
             for c in users_with_history(settings, 60)]
    result = measure(artifact, users, k=5, seed=0)
    cited, random = result[CITED], result[RANDOM]
    assert cited["cases"] >= 200 and random["cases"] == result["items"]
    assert cited["score_dropped_fraction"] > 0.6
    assert cited["score_dropped_fraction"] > random["score_dropped_fraction"] + 0.1, result
    assert cited["mean_score_drop"] > random["mean_score_drop"], result
