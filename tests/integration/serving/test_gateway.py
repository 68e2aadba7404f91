"""The recommendation gateway against the real Triton server and a real Feast store (SQLite)."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pandas as pd
import pytest

from recaug import io

from serving_helpers import make_exported_artifact

pytestmark = pytest.mark.slow
START = pd.Timestamp("2026-03-02 09:00", tz="UTC")


def _marketplace(n_users=20, n_items=30, n_events=500, seed=11):
    rng = np.random.default_rng(seed)
    items = [f"sku-{i:03d}" for i in range(n_items)]
    weights = np.linspace(3, 1, n_items)
    interactions = pd.DataFrame({
        "user_id": rng.choice([f"user-{i}" for i in range(n_users)], n_events),
        "item_id": rng.choice(items, n_events, p=weights / weights.sum()),
        "timestamp": START + pd.to_timedelta(np.sort(rng.uniform(0, 5 * 86400, n_events)).round(), unit="s"),
        "event_type": "click", "source": "observed", "confidence": 1.0,
    }).drop_duplicates(["user_id", "item_id", "timestamp"])
    catalogue = pd.DataFrame({
        "item_id": items, "title": [f"Title of {i}" for i in items],
        "categories": [["books", "games", "music"][i % 3] for i in range(n_items)], "first_seen": START,
    })
    embeddings = pd.DataFrame({
        "item_id": items, "embedding": list(rng.normal(size=(n_items, 16)).astype(np.float32)),
        "encoder": "test-encoder", "encoder_version": "1", "content_hash": "h",
    })
    return items, interactions, catalogue, embeddings


@pytest.fixture(scope="module")
def gateway_world(serving_root, triton):
    """A lake with Feast features materialized and a model deployed as `recaug_gateway`."""
    from recaug.deploy.deploy import deploy
    from recaug.features.build import build_features
    from recaug.features.store import apply_definitions, materialize
    from recaug.settings import load_settings

    root = serving_root / "gateway"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECAUG_PARAMS", str(root / "no-params.yaml"))
        settings = load_settings({
            "lake_root": str(root / "lake"),
            "features": {"embedding_dim": 16, "include_augmented": False},
            "export": {"top_k": 12, "parity_batch_sizes": [2], "parity_lengths": [5]},
            "deploy": {"model_name": "recaug_gateway", "target": {"type": "local", "home": str(triton.home)},
                       "gateway": {"triton_timeout_s": 1.0, "features_timeout_s": 5.0}},
        })
    settings.lake.ensure()
    items, interactions, catalogue, embeddings = _marketplace()
    io.write_parquet(interactions, settings.lake.interactions)
    io.write_parquet(catalogue, settings.lake.items)
    io.write_parquet(embeddings, settings.lake.url("embeddings", "items.parquet"))
    build_features(settings)
    apply_definitions(settings)
    materialize(settings)
    artifact = make_exported_artifact(settings, root / "lake" / "models" / "run-g", items, seed=5)
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


def test_diversity_reranks_the_model_candidates(client):
    plain = client.get("/recommend", params={"user_id": "user-7", "k": 4}).json()["items"]
    diverse = client.get("/recommend", params={"user_id": "user-7", "k": 4, "diversity": 0.9}).json()["items"]
    assert len(diverse) == len({i["item_id"] for i in diverse}) == len(plain)
    assert diverse[0]["item_id"] == plain[0]["item_id"]  # MMR starts from the most relevant item


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


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"triton": "ok", "feature_store": "ok"}


def _app_with_triton_at(settings, protocol, url):
    """A gateway whose Triton address is `url`, or whatever `url()` returns at the time."""
    from fastapi.testclient import TestClient

    from recaug.serving_gateway.app import create_app
    from recaug.serving_gateway.service import RecommendationService, TritonEndpoint

    resolve = url if callable(url) else (lambda: url)
    service = RecommendationService(settings, triton_endpoint=lambda: TritonEndpoint(protocol, resolve()))
    return TestClient(create_app(settings, service=service))


def test_triton_over_http_gives_the_same_answer_as_over_grpc(client, gateway_world, triton):
    """A remote target without a gRPC address is called over HTTP."""
    expected = client.get("/recommend", params={"user_id": "user-5", "k": 6}).json()
    with _app_with_triton_at(gateway_world[0], "http", triton.read_state().http_url) as over_http:
        assert over_http.get("/recommend", params={"user_id": "user-5", "k": 6}).json() == expected
        assert over_http.get("/readyz").status_code == 200
    assert expected["source"] == "model" and len(expected["items"]) == 6


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_triton_refusing_connections_is_503(gateway_world, protocol):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"127.0.0.1:{sock.getsockname()[1]}"
    with _app_with_triton_at(gateway_world[0], protocol, url) as client:
        response = client.get("/recommend", params={"user_id": "user-3", "k": 5})
        assert response.status_code == 503 and "triton unavailable" in response.json()["detail"]
        assert client.get("/readyz").status_code == 503
        # cold start needs no model: unknown users are still served
        assert client.get("/recommend", params={"user_id": "someone-new"}).status_code == 200


def test_gateway_follows_triton_to_a_new_address(gateway_world, triton):
    """A restarted local server listens on new ports: the call that fails on the old address
    makes the gateway resolve it again, and the next request is served."""
    with socket.socket() as sock:  # where the server was: nobody listens there now
        sock.bind(("127.0.0.1", 0))
        old_address = f"127.0.0.1:{sock.getsockname()[1]}"
    addresses = [old_address]
    with _app_with_triton_at(gateway_world[0], "grpc", lambda: addresses[-1]) as client:
        assert client.get("/recommend", params={"user_id": "user-3"}).status_code == 503
        addresses.append(triton.read_state().grpc_url)
        assert client.get("/recommend", params={"user_id": "user-3"}).status_code == 503  # still the old channel
        response = client.get("/recommend", params={"user_id": "user-3"})
        assert response.status_code == 200 and response.json()["source"] == "model"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_triton_that_never_answers_is_503_after_the_timeout(gateway_world, protocol):
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
        assert response.status_code == 503 and "triton unavailable: no answer within 1 s" in response.json()["detail"]
        assert accepted  # the request did reach the silent server
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def test_feature_store_down_is_503(gateway_world, serving_root):
    """A lake whose Feast store was never created: the lookup fails, the gateway says so."""
    from fastapi.testclient import TestClient

    from recaug.deploy.deploy import live_record
    from recaug.serving_gateway.app import create_app

    settings = gateway_world[0]
    broken = settings.model_copy(update={"lake_root": str(serving_root / "no-feast-lake")})
    broken.lake.ensure()
    artifact = live_record(settings).artifact_dir
    with TestClient(create_app(broken, artifact_dir=artifact)) as client:
        response = client.get("/recommend", params={"user_id": "user-3"})
        assert response.status_code == 503 and "feature store unavailable" in response.json()["detail"]
        assert client.get("/readyz").json()["checks"]["feature_store"].startswith("feature store unavailable")


def test_server_timing_header_reports_each_dependency(client):
    response = client.get("/recommend", params={"user_id": "user-3", "k": 2})
    names = [entry.split(";")[0] for entry in response.headers["server-timing"].split(", ")]
    assert names == ["context", "triton", "items"]
