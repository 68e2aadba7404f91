"""A gateway world for reliability tests and bench/bench_reliability.py: a lake with Feast
features, the gateway served by uvicorn on 127.0.0.1 in a thread, concurrent HTTP clients,
and an onnxruntime oracle that recomputes every model answer for the version that gave it."""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import pandas as pd

START = pd.Timestamp("2026-03-02 09:00", tz="UTC")


def settings_without_params(root, config: dict):
    """`load_settings(config)` with the lake created and no params.yaml read (the variable
    naming it points at a missing file only while the settings are built)."""
    import os

    from recaug.settings import PARAMS_ENV, load_settings

    previous = os.environ.get(PARAMS_ENV)
    os.environ[PARAMS_ENV] = str(root / "no-params.yaml")
    try:
        settings = load_settings(config)
    finally:
        if previous is None:
            del os.environ[PARAMS_ENV]
        else:
            os.environ[PARAMS_ENV] = previous
    settings.lake.ensure()
    return settings


def gateway_test_settings(root, model_name: str, triton_home, triton_timeout_s: float, features_timeout_s: float,
                          versions_loaded: int | None = None, top_k: int = 10):
    """Settings of a gateway test world: a lake under `root` (created), 16-d features without
    augmented data, a small export, the local Triton at `triton_home`; no params.yaml is read."""
    deploy = {"model_name": model_name, "target": {"type": "local", "home": str(triton_home)},
              "gateway": {"triton_timeout_s": triton_timeout_s, "features_timeout_s": features_timeout_s}}
    if versions_loaded is not None:
        deploy["served"] = {"versions_loaded": versions_loaded}
    return settings_without_params(root, {
        "lake_root": str(root / "lake"),
        "features": {"embedding_dim": 16, "include_augmented": False},
        "export": {"top_k": top_k, "parity_batch_sizes": [2], "parity_lengths": [5]},
        "deploy": deploy,
    })


def write_marketplace(settings, items: list[str], n_users: int = 40, n_events: int = 1200, seed: int = 11) -> pd.DataFrame:
    """Interactions, catalogue and embeddings in the lake; Feast features built, applied and materialized."""
    from recaug import io
    from recaug.features.build import build_features
    from recaug.features.store import apply_definitions, materialize

    rng = np.random.default_rng(seed)
    weights = np.linspace(3, 1, len(items))
    interactions = pd.DataFrame({
        "user_id": rng.choice([f"user-{i}" for i in range(n_users)], n_events),
        "item_id": rng.choice(items, n_events, p=weights / weights.sum()),
        "timestamp": START + pd.to_timedelta(np.sort(rng.uniform(0, 5 * 86400, n_events)).round(), unit="s"),
        "event_type": "click", "source": "observed", "confidence": 1.0,
    }).drop_duplicates(["user_id", "item_id", "timestamp"])
    catalogue = pd.DataFrame({"item_id": items, "title": [f"Title of {i}" for i in items],
                              "categories": [["books", "games", "music"][i % 3] for i in range(len(items))],
                              "first_seen": START})
    embeddings = pd.DataFrame({"item_id": items, "embedding": list(rng.normal(size=(len(items), 16)).astype(np.float32)),
                               "encoder": "test-encoder", "encoder_version": "1", "content_hash": "h"})
    io.write_parquet(interactions, settings.lake.interactions)
    io.write_parquet(catalogue, settings.lake.items)
    io.write_parquet(embeddings, settings.lake.url("embeddings", "items.parquet"))
    build_features(settings)
    apply_definitions(settings)
    materialize(settings)
    return interactions


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(app) -> Iterator[int]:
    """`app` served by uvicorn on 127.0.0.1 in a background thread; yields the port."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass
class Answer:
    user_id: str
    status: int
    body: dict
    sent_at: float  # Unix seconds
    received_at: float
    latency_s: float


def ask(connection: http.client.HTTPConnection, user_id: str, k: int) -> Answer:
    query = urllib.parse.urlencode({"user_id": user_id, "k": k})
    sent_at, started = time.time(), time.perf_counter()
    connection.request("GET", f"/recommend?{query}")
    response = connection.getresponse()
    raw = response.read()
    latency = time.perf_counter() - started
    try:
        body = json.loads(raw)
    except ValueError:
        body = {"raw": raw.decode(errors="replace")}
    return Answer(user_id, response.status, body, sent_at, time.time(), latency)


@dataclass
class Clients:
    """`count` threads asking the gateway for random users until stopped, keeping every answer."""

    port: int
    users: list[str]
    count: int = 8
    k: int = 5
    keep: Callable[[Answer], object] = lambda answer: answer  # what is stored per answer (benchmarks keep less)
    answers: list = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(seed,), daemon=True) for seed in range(self.count)]

    def __enter__(self) -> "Clients":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait_for(self, condition, limit_s: float = 120.0) -> None:
        """Block until condition(answers) holds (bounded, so a broken gateway fails the test instead of hanging)."""
        deadline = time.monotonic() + limit_s
        while not condition(self.snapshot()):
            if time.monotonic() > deadline:
                seen = Counter((a.status, a.body.get("source"), a.body.get("model_version")) if isinstance(a, Answer)
                               else repr(a)[:80] for a in self.snapshot()[-1000:])
                raise AssertionError(f"condition not reached; answers so far by (status, source, version): {dict(seen)}")
            time.sleep(0.05)

    def wait_for_answers(self, at_least: int, new: bool = False, **body_fields) -> None:
        """Block until `at_least` answers whose body has `body_fields` (e.g. source="model")
        have come; with `new`, only those that come after this call count."""
        mark = len(self.snapshot()) if new else 0
        self.wait_for(lambda seen: sum(all(a.body.get(name) == value for name, value in body_fields.items())
                                       for a in seen[mark:]) >= at_least)

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)

    def _run(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self._stop.is_set():
            user = self.users[int(rng.integers(len(self.users)))]
            try:
                answer = ask(connection, user, self.k)
            except Exception as exc:  # a dropped connection is an error the test reports
                with self._lock:
                    self.failures.append(f"{user}: {type(exc).__name__}: {exc}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            kept = self.keep(answer)
            with self._lock:
                self.answers.append(kept)
        connection.close()


class OnnxOracle:
    """What a deployed version must answer: its own model.onnx run by onnxruntime on the user's
    Feast history encoded with its own item_vocab.json, decoded with the same vocabulary."""

    def __init__(self, settings):
        self.settings = settings
        self._versions: dict[str, tuple] = {}
        self._contexts: dict[str, object] = {}
        self._expected: dict[tuple, list[tuple[str, float]]] = {}

    def _version(self, version: str):
        if version not in self._versions:
            import onnxruntime as ort

            from recaug import io
            from recaug.deploy.deploy import list_records

            records = [r for r in list_records(self.settings, self.settings.deploy.model_name)
                       if r.outcome == "deployed" and str(r.version) == version]
            assert records, f"version {version} answered but has no deployed record"
            artifact = records[-1].artifact_dir
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            session = ort.InferenceSession(f"{artifact}/model.onnx", options, providers=["CPUExecutionProvider"])
            vocab = io.read_json(io.join(artifact, "item_vocab.json"))
            self._versions[version] = (session, vocab, {item: i for i, item in enumerate(vocab) if item is not None})
        return self._versions[version]

    def context(self, user_id: str):
        from recaug.features.online import get_user_context

        if user_id not in self._contexts:
            self._contexts[user_id] = get_user_context([user_id], self.settings)[0]
        return self._contexts[user_id]

    def expected(self, user_id: str, version: str, now: int, k: int) -> list[tuple[str, float]]:
        key = (user_id, version, now, k)
        if key not in self._expected:
            session, vocab, index = self._version(version)
            context = self.context(user_id)
            pairs = [(index[i], t) for i, t in zip(context.history_item_ids, context.history_timestamps) if i in index]
            feed = {"history": np.asarray([[p[0] for p in pairs]], dtype=np.int64),
                    "timestamps": np.asarray([[p[1] for p in pairs]], dtype=np.int64),
                    "now": np.asarray([now], dtype=np.int64)}
            ids, scores = session.run(["top_ids", "top_scores"], feed)
            seen = set(context.history_item_ids)
            decoded = [(vocab[i], float(s)) for i, s in zip(ids[0].tolist(), scores[0].tolist())
                       if 0 < i < len(vocab) and vocab[i] is not None and vocab[i] not in seen and s > -math.inf]
            self._expected[key] = decoded[:k]
        return self._expected[key]

    def check(self, answer: Answer, k: int) -> str | None:
        """None when a model answer equals the oracle's for its version at some second of the
        request's flight (the gateway stamps `now` itself), else what differs."""
        body = answer.body
        got = [(item["item_id"], item["score"]) for item in body["items"]]
        for now in range(int(answer.sent_at), int(answer.received_at) + 1):
            want = self.expected(answer.user_id, body["model_version"], now, k)
            if [i for i, _ in got] == [i for i, _ in want] and all(abs(a[1] - b[1]) <= 1e-4 for a, b in zip(got, want)):
                return None
        return f"{answer.user_id} version {body['model_version']}: got {[i for i, _ in got]}, oracle {[i for i, _ in want]}"
