"""Faults under the recommendation gateway, on real components: the Feast SQLite online store
locked by another process, a Redis online store frozen (SIGSTOP) and killed, and the Triton
server SIGKILLed, while clients keep asking.

The module runs its own tritonserver (own home, free ports, own lake): one test kills it,
and the session-wide server of tests/integration/serving must not be touched. Every answer
is checked: fallbacks must be the popular items (minus what the user has seen, when the
user's context could be read) with the source naming the failing dependency, no request may
fail, and once the dependency is back every model answer must equal onnxruntime's answer of
the version that gave it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "serving"))

from gateway_helpers import Clients, OnnxOracle, gateway_test_settings, serving, write_marketplace  # noqa: E402
from serving_helpers import make_exported_artifact  # noqa: E402

pytestmark = pytest.mark.slow
K = 5
ITEMS = [f"sku-{i:03d}" for i in range(30)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Own Triton server, a lake with Feast features, version 1 deployed, the gateway served on
    127.0.0.1; yields (settings, server, port, oracle, popular items)."""
    from recaug.deploy.deploy import deploy
    from recaug.deploy.server import LocalTritonServer
    from recaug.serving_gateway.app import create_app
    from recaug.serving_gateway.ranking import popular_items

    root = tmp_path_factory.mktemp("gateway-faults")
    settings = gateway_test_settings(root, "recaug_faults", root / "triton", triton_timeout_s=2.0, features_timeout_s=1.0)
    interactions = write_marketplace(settings, ITEMS)
    server = LocalTritonServer.from_settings(settings)
    server.start()
    try:
        deploy(settings, make_exported_artifact(settings, settings.lake.local("models", "run-1"), ITEMS, seed=5))
        oracle = OnnxOracle(settings)
        users = sorted(interactions["user_id"].unique())
        for user in users:  # read before any fault: the oracle needs the true histories
            oracle.context(user)
        popular = [item for item, _ in popular_items(settings, settings.deploy.gateway.popular_window_days)]
        with serving(create_app(settings)) as port:
            yield settings, server, port, oracle, users, popular
    finally:
        server.stop()


def _check(answers, oracle, popular, *fallback_sources: str) -> dict[str, int]:
    """Every answer is 200 and right for its source (the model's, or popular items under one of
    the expected fallbacks); returns the count per source."""
    counts: dict[str, int] = {}
    for answer in answers:
        assert answer.status == 200, (answer.status, answer.body)
        source = answer.body["source"]
        counts[source] = counts.get(source, 0) + 1
        if source == "model":
            assert oracle.check(answer, K) is None, oracle.check(answer, K)
            continue
        assert source in fallback_sources, answer.body
        seen = set() if source == "fallback:feature_store_unavailable" else \
            set(oracle.context(answer.user_id).history_item_ids)
        assert [i["item_id"] for i in answer.body["items"]] == [i for i in popular if i not in seen][:K]
    return counts


def _metric(port: int, series: str) -> float:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return float(next(line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(series + " ")))


def test_feature_store_locked_by_another_process_gives_popular_items_then_model_answers(world):
    settings, _, port, oracle, users, popular = world
    store = settings.lake.local("feast", "online_store.db")
    assert store.is_file()
    code = ("import sqlite3, sys\n"
            f"db = sqlite3.connect({str(store)!r}, isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.readline()\n"
            "db.execute('COMMIT')\n")
    errors_before = _metric(port, 'recaug_gateway_errors_total{code="feature_store_unavailable"}')
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with Clients(port, users, count=4, k=K) as clients:
            clients.wait_for_answers(20, source="fallback:feature_store_unavailable")
        assert holder.poll() is None  # every answer above came while the lock was held
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    assert holder.returncode == 0
    during = _check(clients.snapshot(), oracle, popular, "fallback:feature_store_unavailable")
    assert during.get("fallback:feature_store_unavailable", 0) >= 20 and clients.failures == []
    assert _metric(port, 'recaug_gateway_errors_total{code="feature_store_unavailable"}') > errors_before

    with Clients(port, users, count=4, k=K) as clients:  # lock released: the model answers again
        clients.wait_for_answers(40, source="model")
    after = _check(clients.snapshot(), oracle, popular, "fallback:feature_store_unavailable")
    assert after["model"] >= 40 and clients.failures == []


def _redis_server(directory: Path, port: int) -> subprocess.Popen:
    """A real redis-server on 127.0.0.1 that writes every change to its append-only file, so a
    restart after SIGKILL comes back with the materialized features."""
    process = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
                                "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(200):
        try:
            client.ping()
            return process
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not start on port {port}")


@pytest.fixture
def redis_world(world, tmp_path):
    """The same marketplace with its features in a real Redis online store, version 1 of another
    model deployed on the module's Triton server, and a gateway over them."""
    import shutil

    from gateway_helpers import free_port

    from recaug.deploy.deploy import deploy
    from recaug.serving_gateway.app import create_app
    from recaug.serving_gateway.ranking import popular_items
    from recaug.settings import load_settings

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed on this machine")
    settings = world[0]
    port = free_port()
    process = _redis_server(tmp_path, port)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECAUG_PARAMS", str(tmp_path / "no-params.yaml"))
        redis_settings = load_settings({
            "lake_root": str(tmp_path / "lake"),
            "features": {"embedding_dim": 16, "include_augmented": False,
                         "online_store": {"type": "redis", "connection_string": f"127.0.0.1:{port},db=0"}},
            "export": settings.export.model_dump(),
            "deploy": {**settings.deploy.model_dump(), "model_name": "recaug_faults_redis"},
        })
    redis_settings.lake.ensure()
    interactions = write_marketplace(redis_settings, ITEMS)
    deploy(redis_settings, make_exported_artifact(redis_settings, redis_settings.lake.local("models", "run-1"), ITEMS,
                                                  seed=7))
    oracle = OnnxOracle(redis_settings)
    users = sorted(interactions["user_id"].unique())
    for user in users:
        oracle.context(user)
    popular = [item for item, _ in popular_items(redis_settings, redis_settings.deploy.gateway.popular_window_days)]
    state = {"process": process}
    try:
        with serving(create_app(redis_settings)) as gateway_port:
            yield gateway_port, oracle, users, popular, state, lambda: _redis_server(tmp_path, port)
    finally:
        state["process"].kill()
        state["process"].wait()


def test_redis_online_store_frozen_then_killed_gives_popular_items_then_model_answers(redis_world):
    """Redis stops answering (SIGSTOP: connections hang), comes back (SIGCONT), is killed
    (SIGKILL: connections refused) and restarted from its append-only file: fallbacks while it
    is gone, model answers with nothing lost when it is back."""
    port, oracle, users, popular, state, restart = redis_world
    answers = []
    with Clients(port, users, count=4, k=K) as clients:
        clients.wait_for_answers(20, source="model")
        for fault, recover in ((signal.SIGSTOP, signal.SIGCONT), (signal.SIGKILL, None)):
            state["process"].send_signal(fault)
            if fault == signal.SIGKILL:
                state["process"].wait()
            clients.wait_for_answers(20, new=True, source="fallback:feature_store_unavailable")
            if recover is not None:
                state["process"].send_signal(recover)
            else:
                state["process"] = restart()
            clients.wait_for_answers(20, new=True, source="model")
        answers = clients.snapshot()
    counts = _check(answers, oracle, popular, "fallback:feature_store_unavailable")
    assert clients.failures == []
    assert counts["fallback:feature_store_unavailable"] >= 40 and counts["model"] >= 60


def test_triton_killed_during_requests_gives_popular_unseen_items_then_model_answers(world):
    from recaug.deploy.deploy import deploy, live_record

    settings, server, port, oracle, users, popular = world
    old = server.read_state()
    with Clients(port, users, count=4, k=K) as clients:
        clients.wait_for_answers(20, source="model")
        os.killpg(old.pid, signal.SIGKILL)  # the server and its python-backend stubs
        while server.status().running:
            time.sleep(0.05)
        clients.wait_for_answers(20, new=True, source="fallback:triton_unavailable")
        server.start()  # new ports; the gateway finds them in server.json
        live = live_record(settings)
        deploy(settings, live.artifact_dir)  # a no-op when the restarted server already serves it
        clients.wait_for_answers(40, new=True, source="model")
    answers = clients.snapshot()
    # while the restarted server loads, a 2-core machine can also starve the feature store past
    # its 1 s deadline: those answers must then be that fallback, and right for it
    counts = _check(answers, oracle, popular, "fallback:triton_unavailable", "fallback:feature_store_unavailable")
    assert clients.failures == []
    assert counts["fallback:triton_unavailable"] >= 20 and counts["model"] >= 60
    assert server.read_state().grpc_port != old.grpc_port
    # the live version before the kill, or (if the restart had not loaded it) its redeploy; the
    # oracle above has already checked each answer against the version that gave it
    versions = {a.body["model_version"] for a in answers if a.body["source"] == "model"}
    assert versions <= {str(live.version), str(live_record(settings).version)}
