"""POST /events through the real gateway, the real Feast SQLite store and Triton: an event
changes the user's next answer, and the event is in the durable log."""

from __future__ import annotations

import pytest

from gateway_helpers import gateway_test_settings, write_marketplace
from serving_helpers import make_exported_artifact

pytestmark = pytest.mark.slow
ITEMS = [f"sku-{i:03d}" for i in range(30)]


@pytest.fixture(scope="module")
def events_world(serving_root, triton):
    from fastapi.testclient import TestClient

    from recaug.deploy.deploy import deploy
    from recaug.serving_gateway.app import create_app

    root = serving_root / "events"
    settings = gateway_test_settings(root, "recaug_events", triton.home, triton_timeout_s=2.0, features_timeout_s=5.0,
                                     top_k=12)
    write_marketplace(settings, ITEMS, n_users=20, n_events=500)
    deploy(settings, make_exported_artifact(settings, root / "lake" / "models" / "run-e", ITEMS, seed=5))
    with TestClient(create_app(settings)) as client:
        yield settings, client


def _recommend(client, user_id: str) -> dict:
    response = client.get("/recommend", params={"user_id": user_id, "k": 5})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_click_changes_the_next_answer_and_is_logged(events_world):
    from recaug.events.log import read_events
    from recaug.features.online import get_user_context

    settings, client = events_world
    before = _recommend(client, "user-4")
    assert before["source"] == "model"
    clicked = before["items"][0]["item_id"]
    history_before = get_user_context(["user-4"], settings)[0].history_item_ids

    response = client.post("/events", json={"events": [
        {"event_id": "click-1", "user_id": "user-4", "item_id": clicked, "event_type": "click"},
        {"event_id": "imp-1", "user_id": "user-4", "item_id": before["items"][1]["item_id"], "event_type": "impression"},
    ]})
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 2, "logged": 2, "online": "pushed", "users_updated": 1}

    after = _recommend(client, "user-4")
    assert after["source"] == "model"
    assert clicked not in [item["item_id"] for item in after["items"]]  # now part of the history
    assert [i["item_id"] for i in after["items"]] != [i["item_id"] for i in before["items"]]
    history = get_user_context(["user-4"], settings)[0].history_item_ids
    assert history == (history_before + [clicked])[-settings.features.history_length:]  # impressions are not history
    logged = read_events(settings)
    assert {"click-1", "imp-1"} <= set(logged["event_id"])


def test_a_new_user_gets_model_answers_after_the_first_click(events_world):
    _, client = events_world
    assert _recommend(client, "brand-new")["source"] == "popular"
    response = client.post("/events", json={"user_id": "brand-new", "item_id": ITEMS[3], "event_type": "purchase"})
    assert response.status_code == 200 and response.json()["online"] == "pushed", response.text
    after = _recommend(client, "brand-new")
    assert after["source"] == "model" and ITEMS[3] not in [item["item_id"] for item in after["items"]]


def test_a_retried_event_is_logged_and_pushed_once(events_world):
    from recaug.features.online import get_user_context

    settings, client = events_world
    event = {"event_id": "retry-1", "user_id": "user-7", "item_id": ITEMS[9], "event_type": "click"}
    first = client.post("/events", json=event).json()
    length = len(get_user_context(["user-7"], settings)[0].history_item_ids)
    second = client.post("/events", json=event).json()
    assert (first["logged"], second["logged"], second["online"]) == (1, 0, "nothing to push")
    assert len(get_user_context(["user-7"], settings)[0].history_item_ids) == length


def test_invalid_events_are_refused_whole_naming_event_field_and_rule(events_world):
    from recaug.events.log import read_events

    settings, client = events_world
    before = len(read_events(settings))
    response = client.post("/events", json={"events": [
        {"user_id": "user-1", "item_id": ITEMS[0], "event_type": "click"},
        {"user_id": "user-1", "item_id": "no-such-sku", "event_type": "click"},
        {"user_id": "user-1", "item_id": ITEMS[0], "event_type": "rating", "value": 11},
    ]})
    assert response.status_code == 422
    problems = [(p["event"], p["field"], p["rule"]) for p in response.json()["problems"]]
    assert problems == [(1, "item_id", "unknown item"), (2, "value", "rating range")]
    assert client.post("/events", content=b"{not json").status_code == 422
    limit = settings.events.max_body_bytes
    too_big = client.post("/events", content=b" " * (limit + 1), headers={"content-type": "application/json"})
    assert too_big.status_code == 413 and too_big.json()["problems"][0]["rule"] == "body size"
    assert len(read_events(settings)) == before


def test_concurrent_clicks_of_one_user_all_reach_the_online_history(events_world):
    from concurrent.futures import ThreadPoolExecutor

    from recaug.features.online import get_user_context

    settings, client = events_world
    clicked = ITEMS[20:28]

    def click(item: str) -> int:
        return client.post("/events", json={"user_id": "user-11", "item_id": item, "event_type": "click"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(click, clicked)) == [200] * len(clicked)
    history = get_user_context(["user-11"], settings)[0].history_item_ids
    assert set(clicked) <= set(history[-len(clicked):])  # no request overwrote another's push
