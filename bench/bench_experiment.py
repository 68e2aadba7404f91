"""An online experiment end to end on simulated traffic: the better model must win, with its interval.

A marketplace of 8 topics (50 items each) and 600 users, each living mostly in one topic, is
written to a lake with Feast features. Two FusionSASRec models are exported and deployed on the
bundled tritonserver: the champion with random weights (deliberately weak) and, as the
challenger (`deploy(..., role="challenger")`, share 0.5), the same architecture trained on the
users' histories. `recaug serve gateway` runs in its own process. Simulated users ask it for
10 items, see them all (impressions) and click each with a probability set by ground truth,
not by either model: 0.30 for an item of their topic, 0.03 otherwise, times 0.9^position;
a click turns into a purchase with probability 0.25. Impressions, clicks and purchases,
carrying the answer's request_id, arm and model_version, go to POST /events. Then
`recaug experiment report` and `recaug experiment conclude` run as commands: the challenger
must win on CTR with its Newcombe interval above 0, be promoted, and serve every user.

The side-by-side alternative: a user-level bootstrap of the CTR difference (resampling users,
which keeps each user's impressions together), against which the report's interval (which
treats impressions as independent) is compared by width.

    .venv/bin/python bench/bench_experiment.py [--users 600] [--rounds 3] [--epochs 6]

Prints a Markdown table and writes bench/results/bench_experiment.json.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway_process import gateway_process  # noqa: E402

N_TOPICS, ITEMS_PER_TOPIC, EVENTS_PER_USER, K = 8, 50, 40, 10
P_TOPIC, P_OTHER, POSITION_DECAY, P_PURCHASE = 0.30, 0.03, 0.9, 0.25
MODEL = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "max_length": 30}
START = pd.Timestamp.now(tz="UTC").floor("D") - pd.Timedelta(days=20)


def build_settings(root: Path, epochs: int):
    from recaug.settings import PARAMS_ENV, load_settings

    os.environ[PARAMS_ENV] = str(root / "no-params.yaml")
    settings = load_settings({
        "lake_root": str(root / "lake"),
        "features": {"embedding_dim": 16, "include_augmented": False},
        "model": MODEL,
        "train": {"epochs": epochs, "use_augmented": False, "seed": 3},
        "export": {"top_k": 20, "parity_batch_sizes": [1, 4], "parity_lengths": [1, 20]},
        "deploy": {"model_name": "bench_experiment", "target": {"type": "local", "home": str(root / "triton")},
                   "gateway": {"records_check_interval_s": 0.2}},
        "experiment": {"share": 0.5, "min_impressions": 500},
    })
    settings.lake.ensure()
    return settings


def write_world(settings, n_users: int, seed: int = 7) -> dict[str, int]:
    """Topic marketplace in the lake (interactions, catalogue, embeddings, Feast); returns each
    user's topic (the ground truth the simulated clicks follow)."""
    from recaug import io
    from recaug.features.build import build_features
    from recaug.features.store import apply_definitions, materialize

    rng = np.random.default_rng(seed)
    items = [f"t{t}-item-{i:02d}" for t in range(N_TOPICS) for i in range(ITEMS_PER_TOPIC)]
    topic_of_item = np.repeat(np.arange(N_TOPICS), ITEMS_PER_TOPIC)
    users = {f"user-{u:04d}": int(rng.integers(N_TOPICS)) for u in range(n_users)}
    rows = []
    for user, topic in users.items():
        own = np.flatnonzero(topic_of_item == topic)
        times = START + pd.to_timedelta(np.sort(rng.uniform(0, 18 * 86400, EVENTS_PER_USER)).round(), unit="s")
        for at in times:
            pool = own if rng.random() < 0.85 else np.arange(len(items))
            rows.append((user, items[int(rng.choice(pool))], at))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(
        event_type="click", source="observed", confidence=1.0).drop_duplicates(["user_id", "item_id", "timestamp"])
    centres = rng.normal(size=(N_TOPICS, 16))
    vectors = (centres[topic_of_item] + 0.5 * rng.normal(size=(len(items), 16))).astype(np.float32)
    catalogue = pd.DataFrame({"item_id": items, "title": [f"Item {i}" for i in items],
                              "categories": [[f"topic-{t}"] for t in topic_of_item], "first_seen": START})
    embeddings = pd.DataFrame({"item_id": items, "embedding": list(vectors), "encoder": "bench-topics",
                               "encoder_version": "1", "content_hash": "h"})
    io.write_parquet(interactions, settings.lake.interactions)
    io.write_parquet(catalogue, settings.lake.items)
    io.write_parquet(embeddings, settings.lake.url("embeddings", "items.parquet"))
    build_features(settings)
    apply_definitions(settings)
    materialize(settings)
    return users


def trained_artifact(settings) -> tuple[str, dict]:
    from recaug.export.onnx import export
    from recaug.train.run import train

    result = train(settings.model_copy(update={"run_id": "trained"}))
    export(settings, result.artifact_dir)
    return result.artifact_dir, {"test_ndcg_at_10": result.test_ndcg_at_10, "test_hr_at_10": result.test_hr_at_10,
                                 "train_seconds": result.train_seconds}


def untrained_artifact(settings, trained_dir: str) -> str:
    """The same architecture and vocabulary with random weights."""
    import torch

    from recaug import io
    from recaug.export.onnx import export
    from recaug.models.artifact import build_model, model_params, save_artifact
    from recaug.models.config import ModelConfig

    vocab = io.read_json(io.join(trained_dir, "item_vocab.json"))
    torch.manual_seed(11)
    model = build_model("fusion_sasrec", ModelConfig(**MODEL), len(vocab) - 1)
    directory = settings.lake.url("models", "untrained")
    save_artifact(directory, model, vocab, model_params(model))
    export(settings, directory)
    return directory


class Simulator:
    """Users asking the gateway and reacting to what they are shown, from several threads."""

    def __init__(self, port: int, topics: dict[str, int], seed: int):
        self.port, self.topics = port, topics
        self.rng = np.random.default_rng(seed)
        self.lock = threading.Lock()
        self.answers: list[dict] = []
        self.posted = 0
        self.post_seconds = 0.0
        self.failures: list[str] = []

    def run(self, rounds: int, threads: int) -> None:
        order = [user for _ in range(rounds) for user in self.rng.permutation(list(self.topics))]
        chunks = [order[i::threads] for i in range(threads)]
        workers = [threading.Thread(target=self._worker, args=(chunk, seed)) for seed, chunk in enumerate(chunks)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _worker(self, users: list[str], seed: int) -> None:
        rng = np.random.default_rng(1000 + seed)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for user in users:
            try:
                answer = self._get(connection, f"/recommend?{urllib.parse.urlencode({'user_id': user, 'k': K})}")
                events = self._react(user, answer, rng)
                started = time.perf_counter()
                self._post(connection, events)
                with self.lock:
                    self.answers.append(answer)
                    self.posted += len(events)
                    self.post_seconds += time.perf_counter() - started
            except Exception as exc:  # reported in the results; the bench fails on any
                with self.lock:
                    self.failures.append(f"{user}: {type(exc).__name__}: {exc}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.close()

    def _react(self, user: str, answer: dict, rng) -> list[dict]:
        now = time.time()
        tags = {"request_id": answer["request_id"], "arm": answer["arm"], "model_version": answer["model_version"]}
        events = []
        for position, item in enumerate(answer["items"]):
            item_id = item["item_id"]
            events.append({"event_id": uuid.uuid4().hex, "user_id": user, "item_id": item_id,
                           "event_type": "impression", "timestamp": now, **tags})
            p = (P_TOPIC if item_id.startswith(f"t{self.topics[user]}-") else P_OTHER) * POSITION_DECAY ** position
            if rng.random() < p:
                events.append({"event_id": uuid.uuid4().hex, "user_id": user, "item_id": item_id,
                               "event_type": "click", "timestamp": now + 1, **tags})
                if rng.random() < P_PURCHASE:
                    events.append({"event_id": uuid.uuid4().hex, "user_id": user, "item_id": item_id,
                                   "event_type": "purchase", "timestamp": now + 2, **tags})
        return events

    @staticmethod
    def _get(connection, path: str) -> dict:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
        return json.loads(body)

    @staticmethod
    def _post(connection, events: list[dict]) -> None:
        connection.request("POST", "/events", body=json.dumps({"events": events}),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        body = response.read()
        if response.status not in (200, 201, 202):
            raise RuntimeError(f"POST /events: {response.status} {body[:300]!r}")


def answers_after_switch(port: int, users: list[str], version: str, limit_s: float = 30.0) -> list[tuple[str, str]]:
    """(arm, version) pairs answered to `users` once the gateway serves `version` to a probe user:
    a request only starts the gateway's look at the records (off the request path), so the
    first answers after the promotion may still come from the old pin."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    deadline = time.monotonic() + limit_s
    while Simulator._get(connection, f"/recommend?user_id={users[0]}&k={K}")["model_version"] != version:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    answers = [Simulator._get(connection, f"/recommend?user_id={user}&k={K}") for user in users]
    connection.close()
    return sorted({(str(a["arm"]), a["model_version"]) for a in answers})


def recaug_command(params: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "recaug"), *args]
    return subprocess.run(command, env={**os.environ, "RECAUG_PARAMS": str(params)}, cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def user_bootstrap(settings, experiment, resamples: int = 2000, seed: int = 5) -> dict:
    """CTR difference interval from resampling users within each arm (impressions of a user stay together)."""
    from recaug.events.log import read_events

    events = read_events(settings)
    events = events[events["timestamp"] >= pd.Timestamp(experiment.start)]
    shown = events[events["event_type"] == "impression"].drop_duplicates(["request_id", "item_id"])
    clicked = set(zip(events.loc[events["event_type"] == "click", "request_id"],
                      events.loc[events["event_type"] == "click", "item_id"]))
    shown = shown.assign(clicked=[(r, i) in clicked for r, i in zip(shown["request_id"], shown["item_id"])])
    per_user = shown.groupby(["arm", "user_id"])["clicked"].agg(["sum", "count"])
    rng = np.random.default_rng(seed)
    rates = {}
    for arm in ("champion", "challenger"):
        table = per_user.loc[arm].to_numpy()
        picks = rng.integers(len(table), size=(resamples, len(table)))
        rates[arm] = table[picks, 0].sum(axis=1) / table[picks, 1].sum(axis=1)
    difference = rates["challenger"] - rates["champion"]
    low, high = np.percentile(difference, [2.5, 97.5])
    return {"low": float(low), "high": float(high), "resamples": resamples}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3, help="requests per user")
    parser.add_argument("--threads", type=int, default=4, help="simulated clients")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs of the challenger")
    args = parser.parse_args()

    import torch
    import yaml

    from recaug.deploy.deploy import deploy
    from recaug.deploy.server import LocalTritonServer
    from recaug.logs import configure_logging
    from recaug.settings import to_params

    configure_logging()
    torch.set_num_threads(2)
    results: dict = {"args": vars(args), "topics": N_TOPICS, "items": N_TOPICS * ITEMS_PER_TOPIC, "k": K,
                     "click_model": {"p_topic": P_TOPIC, "p_other": P_OTHER, "position_decay": POSITION_DECAY,
                                     "p_purchase": P_PURCHASE},
                     "cpu_count": os.cpu_count(), "load_average_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-experiment-") as tmp:
        root = Path(tmp)
        settings = build_settings(root, args.epochs)
        topics = write_world(settings, args.users)
        trained_dir, results["challenger_offline"] = trained_artifact(settings)
        untrained_dir = untrained_artifact(settings, trained_dir)
        params = root / "params.yaml"
        params.write_text(yaml.safe_dump(to_params(settings)))
        server = LocalTritonServer.from_settings(settings)
        server.start()
        try:
            champion = deploy(settings, untrained_dir)
            challenger = deploy(settings, trained_dir, role="challenger")
            results["versions"] = {"champion": champion.version, "challenger": challenger.version}
            with gateway_process(params, root, log=root / "gateway.log") as port:
                simulator = Simulator(port, topics, seed=1)
                started = time.perf_counter()
                simulator.run(args.rounds, args.threads)
                results["simulation_seconds"] = time.perf_counter() - started
                results["requests"], results["events_posted"] = len(simulator.answers), simulator.posted
                results["failures"] = simulator.failures[:20]
                arms = pd.DataFrame([(a["user_id"], a["arm"], a["model_version"]) for a in simulator.answers],
                                    columns=["user", "arm", "version"])
                results["users_with_one_arm"] = bool((arms.groupby("user")["arm"].nunique() == 1).all())
                results["answers_by_arm_version"] = {f"{arm}/v{version}": int(n) for (arm, version), n in
                                                     arms.groupby(["arm", "version"]).size().items()}
                started = time.perf_counter()
                report = recaug_command(params, root, "experiment", "report", "--json")
                results["report_seconds"] = time.perf_counter() - started
                if report.returncode != 0:
                    raise RuntimeError(f"recaug experiment report failed: {report.stderr}")
                results["report"] = json.loads(report.stdout)
                table = recaug_command(params, root, "experiment", "report").stdout
                from recaug.experiments.store import find_experiment

                results["user_bootstrap_ctr_difference"] = user_bootstrap(settings, find_experiment(settings, None))
                concluded = recaug_command(params, root, "experiment", "conclude")
                results["conclude"] = {"exit_code": concluded.returncode, "last_line": concluded.stdout.strip()
                                       .splitlines()[-1] if concluded.stdout.strip() else concluded.stderr[-300:]}
                results["after_conclude"] = answers_after_switch(port, list(topics)[:50],
                                                                 str(results["versions"]["challenger"]))
        finally:
            server.stop()
    results["load_average_end"] = os.getloadavg()
    print_table(results, table)
    out = ROOT / "bench" / "results" / "bench_experiment.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten {out}")
    report = results["report"]
    ok = (not results["failures"] and results["users_with_one_arm"] and report["verdict"] == "challenger_wins"
          and results["conclude"]["exit_code"] == 0
          and results["after_conclude"] == [("None", str(results["versions"]["challenger"]))])
    return 0 if ok else 1


def print_table(results: dict, table: str) -> None:
    report = results["report"]
    diff, boot = report["ctr_difference"], results["user_bootstrap_ctr_difference"]
    ours, theirs = diff["high"] - diff["low"], boot["high"] - boot["low"]
    print(f"\n{table}")
    print("\n| CTR difference (challenger - champion) | low | high | width |")
    print("|---|---|---|---|")
    print(f"| recaug report: Newcombe hybrid score (impressions independent) | {diff['low']:+.4f} | "
          f"{diff['high']:+.4f} | {ours:.4f} |")
    print(f"| user-level bootstrap ({boot['resamples']} resamples) | {boot['low']:+.4f} | {boot['high']:+.4f} | "
          f"{theirs:.4f} ({theirs / ours:.2f}x) |")
    print(f"\nrequests {results['requests']}, events posted {results['events_posted']} in "
          f"{results['simulation_seconds']:.1f} s; answers by arm/version {results['answers_by_arm_version']}; "
          f"every user kept one arm: {results['users_with_one_arm']}; report {results['report_seconds']:.1f} s")
    print(f"conclude: {results['conclude']}; after it (arm, version): {results['after_conclude']}")


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
