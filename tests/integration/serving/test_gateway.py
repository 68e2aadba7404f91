"""The recommendation gateway against the real Triton server and a real Feast store (SQLite)."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pandas as pd
import pytest

from recaug import io

from gateway_helpers import gateway_test_settings, write_marketplace
from serving_helpers import make_exported_artifact

pytestmark = pytest.mark.slow
ITEMS = [f"sku-{i:03d}" for i in range(30)]


@pytest.fixture(scope="module")
def gateway_world(serving_root, triton):
    """A lake with Feast features materialized and a model deployed as `recaug_gateway`."""
    from recaug.deploy.deploy import deploy

    root = serving_root / "gateway"
    settings = gateway_test_settings(root, "recaug_gateway", triton.home, triton_timeout_s=1.0, features_timeout_s=5.0,
                                     top_k=12)
    interactions = write_marketplace(settings, ITEMS, n_users=20, n_events=500)
    catalogue = io.read_parquet(settings.lake.items)
    artifact = make_exported_artifact(settings, root / "lake" / "models" / "run-g", ITEMS, seed=5)
    deploy(settings, artifact)
    return settings, interactions, catalogue


@pytest.fixture(scope="module")
def client(gateway_world):
    from fastapi.testclient import TestClient

    from recaug.serving_gateway.app import create_app

    with TestClient(create_app(gateway_world[0])) as test_client:
        yield test_client


def _history(interactions, user_id):
    return set(interactions.loc[interactions["user_id"] == user_id, "item_id"])


def test_known_user_gets_unseen_items_with_titles_from_the_model(client, gateway_world):
    _, interactions, catalogue = gateway_world
    titles = dict(zip(catalogue["item_id"], catalogue["title"]))
    response = client.get("/recommend", params={"user_id": "user-3", "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "model" and body["model_version"] == "1"
    ids = [item["item_id"] for item in body["items"]]
    assert len(ids) == len(set(ids)) <= 5
    assert not set(ids) & _history(interactions, "user-3")
    assert all(item["title"] == titles[item["item_id"]] for item in body["items"])
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_diversity_reranks_the_model_candidates(client, gateway_world):
    """diversity > 0 answers MMR over all the model's candidates (the plain answer at the
    largest k, with the items' embeddings), which here differs from the plain top 4."""
    from recaug.serving_gateway.ranking import mmr

    pool = client.get("/recommend", params={"user_id": "user-7", "k": 12}).json()["items"]
    plain = [item["item_id"] for item in pool[:4]]
    diverse = client.get("/recommend", params={"user_id": "user-7", "k": 4, "diversity": 0.9}).json()["items"]
    embeddings = io.read_parquet(gateway_world[0].lake.url("embeddings", "items.parquet"))
    vectors = dict(zip(embeddings["item_id"], embeddings["embedding"]))
    order = mmr([item["score"] for item in pool], np.stack([vectors[item["item_id"]] for item in pool]), 4, 0.9)
    expected = [pool[i]["item_id"] for i in order]
    assert len(pool) > 4
    assert [item["item_id"] for item in diverse] == expected
    assert expected != plain and expected[0] == plain[0]  # MMR starts from the most relevant item


def test_requests_without_diversity_get_the_weight_chosen_for_the_model(client, gateway_world):
    """A version whose metrics.json records an MMR weight chosen on validation serves it by
    default; `diversity` in the request still wins; a version without one keeps the model order."""
    from fastapi.testclient import TestClient

    from recaug.serving_gateway.app import create_app

    settings = gateway_world[0]
    metrics_url = settings.lake.url("models", "run-g", "metrics.json")
    io.write_json(metrics_url, {"mmr": {"chosen_weight": 0.9}})
    try:
        with TestClient(create_app(settings)) as chosen:
            by_default = chosen.get("/recommend", params={"user_id": "user-7", "k": 4}).json()["items"]
            overridden = chosen.get("/recommend", params={"user_id": "user-7", "k": 4, "diversity": 0}).json()["items"]
    finally:
        fs, path = io.filesystem(metrics_url)
        fs.rm(path)

    def ids(items):
        return [item["item_id"] for item in items]

    explicit = client.get("/recommend", params={"user_id": "user-7", "k": 4, "diversity": 0.9}).json()["items"]
    plain = client.get("/recommend", params={"user_id": "user-7", "k": 4}).json()["items"]  # loaded without metrics
    assert ids(by_default) == ids(explicit) != ids(plain)
    assert ids(overridden) == ids(plain)


def test_unknown_user_gets_popular_items(client, gateway_world):
    _, interactions, _ = gateway_world
    body = client.get("/recommend", params={"user_id": "someone-new", "k": 3}).json()
    assert body["source"] == "popular" and body["model_version"] is None
    recent = interactions[interactions["timestamp"] > interactions["timestamp"].max() - pd.Timedelta(days=30)]
    counts = recent.groupby("item_id").size().sort_values(ascending=False, kind="stable")
    assert [i["item_id"] for i in body["items"]] == list(counts.index[:3])
    assert [i["score"] for i in body["items"]] == [float(c) for c in counts.iloc[:3]]


@pytest.mark.parametrize("params", [
    {"k": 3}, {"user_id": "user-1", "k": 0}, {"user_id": "user-1", "k": 13}, {"user_id": "user-1", "k": "many"},
    {"user_id": "user-1", "diversity": 1.5}, {"user_id": "", "k": 3},
])
def test_bad_parameters_are_422(client, params):
    response = client.get("/recommend", params=params)
    assert response.status_code == 422, response.text


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"triton": "ok", "feature_store": "ok"}, "model_version": "1"}
    before = _answers(client)
    client.get("/recommend", params={"user_id": "user-3"})
    client.get("/recommend", params={"user_id": "someone-new"})
    after = _answers(client)
    assert after["model"] == before["model"] + 1 and after["popular"] == before["popular"] + 1
    assert "recaug_gateway_live_model_version 1\n" in client.get("/metrics").text


def _answers(client) -> dict[str, float]:
    """recaug_gateway_answers_total by source, from /metrics."""
    counts = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("recaug_gateway_answers_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split('source="')[1].rstrip('"}')] = float(value)
    return counts


def _app_with_triton_at(settings, protocol, url):
    """A gateway whose Triton address is `url`, or whatever `url()` returns at the time; failing
    dependencies are retried on every request (no cool-down), so each request shows the state."""
    from fastapi.testclient import TestClient

    from recaug.serving_gateway.app import create_app
    from recaug.serving_gateway.service import RecommendationService, TritonEndpoint

    resolve = url if callable(url) else (lambda: url)
    gateway = settings.deploy.gateway.model_copy(update={"breaker_cooldown_s": 0})
    settings = settings.model_copy(update={"deploy": settings.deploy.model_copy(update={"gateway": gateway})})
    service = RecommendationService(settings, triton_endpoint=lambda: TritonEndpoint(protocol, resolve()))
    return TestClient(create_app(settings, service=service))


def test_triton_over_http_gives_the_same_answer_as_over_grpc(client, gateway_world, triton):
    """A remote target without a gRPC address is called over HTTP."""
    expected = client.get("/recommend", params={"user_id": "user-5", "k": 6}).json()
    with _app_with_triton_at(gateway_world[0], "http", triton.read_state().http_url) as over_http:
        answer = over_http.get("/recommend", params={"user_id": "user-5", "k": 6}).json()
        assert answer.pop("request_id") != expected.pop("request_id")  # every answer gets its own
        assert answer == expected
        assert over_http.get("/readyz").status_code == 200
    assert expected["source"] == "model" and len(expected["items"]) == 6


def _popular_unseen(interactions, user_id, k):
    recent = interactions[interactions["timestamp"] > interactions["timestamp"].max() - pd.Timedelta(days=30)]
    counts = recent.groupby("item_id").size().sort_values(ascending=False, kind="stable")
    seen = _history(interactions, user_id)
    return [item for item in counts.index if item not in seen][:k]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_triton_refusing_connections_gives_popular_unseen_items(gateway_world, protocol):
    _, interactions, catalogue = gateway_world
    titles = dict(zip(catalogue["item_id"], catalogue["title"]))
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"127.0.0.1:{sock.getsockname()[1]}"
    with _app_with_triton_at(gateway_world[0], protocol, url) as client:
        response = client.get("/recommend", params={"user_id": "user-3", "k": 5})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["source"] == "fallback:triton_unavailable" and body["model_version"] is None
        assert [i["item_id"] for i in body["items"]] == _popular_unseen(interactions, "user-3", 5)
        assert all(i["title"] == titles[i["item_id"]] for i in body["items"])
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"] == {"triton": "triton_unavailable", "feature_store": "ok"}
        assert _answers(client)["fallback:triton_unavailable"] == 1
        # cold start needs no model: unknown users are still served as usual
        assert client.get("/recommend", params={"user_id": "someone-new"}).json()["source"] == "popular"


def test_gateway_follows_triton_to_a_new_address(gateway_world, triton):
    """A restarted local server listens on new ports: the call that fails on the old address
    makes the gateway resolve it again, and the next request is served by the model."""
    with socket.socket() as sock:  # where the server was: nobody listens there now
        sock.bind(("127.0.0.1", 0))
        old_address = f"127.0.0.1:{sock.getsockname()[1]}"
    addresses = [old_address]
    with _app_with_triton_at(gateway_world[0], "grpc", lambda: addresses[-1]) as client:
        assert client.get("/recommend", params={"user_id": "user-3"}).json()["source"] == "fallback:triton_unavailable"
        addresses.append(triton.read_state().grpc_url)
        assert client.get("/recommend", params={"user_id": "user-3"}).json()["source"] == "fallback:triton_unavailable"
        response = client.get("/recommend", params={"user_id": "user-3"})
        assert response.status_code == 200 and response.json()["source"] == "model"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_triton_that_never_answers_gives_popular_items_after_the_timeout(gateway_world, protocol):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept_and_stay_silent():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_and_stay_silent, daemon=True)
    thread.start()
    try:
        with _app_with_triton_at(gateway_world[0], protocol, f"127.0.0.1:{listener.getsockname()[1]}") as client:
            response = client.get("/recommend", params={"user_id": "user-3", "k": 5})
        assert response.status_code == 200 and response.json()["source"] == "fallback:triton_unavailable"
        assert len(response.json()["items"]) == 5
        assert accepted  # the request did reach the silent server
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def _lake_without_feast(settings, root, with_interactions: bool):
    """A copy of the lake's deploy records (and interactions) whose Feast store was never created."""
    import shutil

    broken = settings.model_copy(update={"lake_root": str(root)})
    broken.lake.ensure()
    shutil.copytree(settings.lake.local("deploy", "records"), broken.lake.local("deploy", "records"))
    if with_interactions:
        shutil.copy(settings.lake.interactions, broken.lake.interactions)
    return broken


def test_feature_store_down_gives_popular_items(gateway_world, serving_root):
    """A lake whose Feast store was never created: the lookup fails, popular items are served."""
    from fastapi.testclient import TestClient

    from recaug.serving_gateway.app import create_app

    settings, interactions, _ = gateway_world
    broken = _lake_without_feast(settings, serving_root / "no-feast-lake", with_interactions=True)
    with TestClient(create_app(broken)) as client:
        response = client.get("/recommend", params={"user_id": "user-3", "k": 4})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["source"] == "fallback:feature_store_unavailable"
        assert [i["item_id"] for i in body["items"]] == _popular_unseen(interactions, "nobody", 4)  # nothing excluded
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["feature_store"] == "feature_store_unavailable"
        assert _answers(client)["fallback:feature_store_unavailable"] == 1


def test_nothing_to_serve_is_503_with_a_stable_error(gateway_world, serving_root):
    """No feature store and no interactions to rank popular items from: a 503 whose body is a
    fixed code and message, never the exception text."""
    from fastapi.testclient import TestClient

    from recaug.serving_gateway.app import create_app

    broken = _lake_without_feast(gateway_world[0], serving_root / "empty-lake", with_interactions=False)
    with TestClient(create_app(broken)) as client:
        response = client.get("/recommend", params={"user_id": "user-3", "k": 1})
    assert response.status_code == 503
    body = response.json()
    assert body == {"error": {"code": "feature_store_unavailable", "message": body["error"]["message"]}}
    assert body["error"]["message"].startswith("the feature store did not answer in time or failed")
    assert str(serving_root) not in response.text and "Error" not in response.text


def test_an_explicit_artifact_pins_the_version_deployed_from_it(gateway_world, serving_root):
    """--artifact: requests go to the version whose deploy record names that artifact; an
    artifact that was never deployed has no version the gateway may call."""
    from fastapi.testclient import TestClient

    from recaug.deploy.deploy import live_record
    from recaug.serving_gateway.app import create_app

    settings, _, _ = gateway_world
    with TestClient(create_app(settings, artifact_dir=live_record(settings).artifact_dir + "/")) as client:
        assert client.get("/recommend", params={"user_id": "user-3"}).json()["model_version"] == "1"
    never_deployed = make_exported_artifact(settings, serving_root / "never-deployed", ITEMS, seed=9)
    with TestClient(create_app(settings, artifact_dir=never_deployed)) as client:
        body = client.get("/recommend", params={"user_id": "user-3", "k": 3}).json()
        assert body["source"] == "fallback:model_unavailable" and len(body["items"]) == 3
        assert client.get("/readyz").json()["checks"]["triton"] == "model_unavailable"


def test_server_timing_header_reports_each_dependency(client):
    for explain, expected in (("true", ["context", "triton", "items", "explain"]), ("false", ["context", "triton", "items"])):
        response = client.get("/recommend", params={"user_id": "user-3", "k": 2, "explain": explain})
        names = [entry.split(";")[0] for entry in response.headers["server-timing"].split(", ")]
        assert names == expected
