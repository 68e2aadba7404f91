"""Cold users who declared attributes, through the real gateway and Feast on SQLite: answers
popular in their segments, with a reason naming the segment; users without attributes keep
global popularity. Cold answers need no model, so no Triton runs here."""

from __future__ import annotations

import pandas as pd
import pytest

from recaug import io
from recaug.serving_gateway import explain, outcomes

from explain_helpers import explain_settings, market_tables

pytestmark = pytest.mark.slow
COLD_USERS = 40
K = 10


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(settings, held-out events of the cold users, users table): a marketplace whose region
    and age band follow the users' main topic (segment_signal 1); COLD_USERS users keep their
    row in the users table but none of their events reach the lake; one more user declared nothing."""
    from recaug.data.config import SynthConfig
    from recaug.features.build import build_features
    from recaug.features.store import apply_definitions, materialize

    root = tmp_path_factory.mktemp("segments")
    tables = market_tables(SynthConfig(seed=7, n_users=400, n_items=80, n_interactions=12000, n_topics=8, n_days=8,
                                       segment_signal=1.0))
    settings = explain_settings(root, root / "no-triton", model={}, epochs=1, top_k=K)
    interactions, users = tables["interactions"], tables["users"]
    cold = sorted(interactions["user_id"].unique())[:COLD_USERS]
    held_out = interactions[interactions["user_id"].isin(cold)]
    users = pd.concat([users, pd.DataFrame({"user_id": ["undeclared"]})], ignore_index=True)
    io.write_parquet(interactions[~interactions["user_id"].isin(cold)], settings.lake.interactions)
    io.write_parquet(tables["items"], settings.lake.items)
    io.write_parquet(users, settings.lake.users)
    io.write_parquet(tables["embeddings"], settings.lake.url("embeddings", "items.parquet"))
    build_features(settings)
    apply_definitions(settings)
    materialize(settings)
    return settings, held_out, users


@pytest.fixture(scope="module", params=["sum", "most_specific"])
def client(world, request):
    """The gateway with each way of combining a user's segments (deploy.gateway.segment_combination)."""
    from fastapi.testclient import TestClient

    from recaug.serving_gateway.app import create_app

    settings = world[0]
    gateway = settings.deploy.gateway.model_copy(update={"segment_combination": request.param})
    settings = settings.model_copy(update={"deploy": settings.deploy.model_copy(update={"gateway": gateway})})
    with TestClient(create_app(settings)) as test_client:
        test_client.combination = request.param
        yield test_client


def ask(client, user_id: str) -> dict:
    response = client.get("/recommend", params={"user_id": user_id, "k": K})
    assert response.status_code == 200, response.text
    return response.json()


def segment_counts(settings, segment: dict) -> pd.Series:
    """Interactions per item in the gateway's popularity window of the users in `segment`
    ({attribute: value}, an age band as its label "25-34" or "66+"), from the lake."""
    events = io.read_parquet(settings.lake.interactions)
    users = io.read_parquet(settings.lake.users)
    window = settings.deploy.gateway.popular_window_days
    recent = events[events["timestamp"] > events["timestamp"].max() - pd.Timedelta(days=window)]
    members = pd.Series(True, index=users.index)
    for attribute, value in segment.items():
        if attribute == "age":
            low, _, high = value.rstrip("+").partition("-")
            members &= (users["age"] >= int(low)) & (users["age"] <= (int(high) if high else 200))
        else:
            members &= users[attribute] == value
    return recent[recent["user_id"].isin(set(users.loc[members.fillna(False), "user_id"]))].groupby("item_id").size()


def test_cold_users_of_different_segments_get_their_segments_popular_items(client, world):
    settings, held_out, users = world
    attributes = users.set_index("user_id")
    cold = sorted(held_out["user_id"].unique())
    north, south = (next(u for u in cold if attributes.loc[u, "region"] == region) for region in ("north", "south"))
    answers = {user: ask(client, user) for user in (north, south)}
    assert [i["item_id"] for i in answers[north]["items"]] != [i["item_id"] for i in answers[south]["items"]]
    for user, region in ((north, "north"), (south, "south")):
        body = answers[user]
        assert body["source"] == outcomes.SEGMENT_POPULAR and body["model_version"] is None, body
        for item in body["items"][:3]:  # the top items are their segments' own, each with its count and rank there
            reason = item["reasons"][0]
            assert reason["kind"] == explain.POPULAR_WITH_SIMILAR_USERS, item
            segment = reason["evidence"]["segment"]
            assert segment.get("region", region) == region and set(segment) <= {"region", "age"}, segment
            assert reason["text"].startswith("Popular with users like you (")
            counts = segment_counts(settings, segment)
            assert reason["evidence"]["interactions"] == counts[item["item_id"]]
            assert f"{counts[item['item_id']]} interactions in the last 30 days" in reason["text"]
            higher = int((counts > counts[item["item_id"]]).sum())
            assert higher < reason["evidence"]["rank"] <= higher + int((counts == counts[item["item_id"]]).sum())
        if client.combination == "most_specific":  # one segment: its most interacted items lead (ties in any order)
            counts = segment_counts(settings, body["items"][0]["reasons"][0]["evidence"]["segment"])
            assert [counts[i["item_id"]] for i in body["items"][:3]] == sorted(counts, reverse=True)[:3]
        else:  # both single-attribute segments of the user were summed
            used = body["items"][0]["reasons"][0]["evidence"]["segments_used"]
            assert [set(s) - {"users"} for s in used] == [{"region"}, {"age"}] and used[0]["region"] == region


def test_segment_answers_find_more_of_what_cold_users_then_did_than_global_popularity(client, world):
    """The held-out events of the cold users are the truth: segment answers hit more of them
    (a gateway ignoring the segments would tie)."""
    settings, held_out, _ = world
    popular = [i["item_id"] for i in ask(client, "undeclared")["items"]]
    segment_hits = global_hits = 0
    for user, events in held_out.groupby("user_id"):
        items = [i["item_id"] for i in ask(client, user)["items"]]
        segment_hits += len(set(items) & set(events["item_id"]))
        global_hits += len(set(popular) & set(events["item_id"]))
    assert segment_hits > global_hits, (segment_hits, global_hits)


def test_users_without_attributes_get_global_popularity(client, world):
    for user in ("undeclared", "nobody-at-all"):
        body = ask(client, user)
        assert body["source"] == outcomes.POPULAR, body
        assert [i["reasons"][0]["kind"] for i in body["items"]] == [explain.POPULAR] * K
        assert [i["reasons"][0]["evidence"]["rank"] for i in body["items"]] == list(range(1, K + 1))
    metrics = client.get("/metrics").text
    assert 'recaug_gateway_answers_total{source="segment_popular"}' in metrics
