"""Reliability under redeploys: the recommendation gateway under 32 concurrent clients for
--duration seconds, across two catalogue-changing deploys (at 1/3 and 2/3 of the time).

A real FusionSASRec (random weights) over a 2,000-item catalogue is exported and deployed
with recaug.deploy.deploy.deploy() to the bundled tritonserver; each redeploy adds 40 new
items at the front of the vocabulary, so every item index shifts. The gateway runs as
`recaug serve gateway` in its own process (user histories from a real Feast SQLite store,
1,000 users), following the deploy records. 32 client threads ask for random users over
keep-alive connections. Every answer is checked afterwards:
- model answers against onnxruntime running the answering version's model.onnx on the
  user's history encoded with that version's item_vocab.json (ids equal, scores within 1e-4);
- fallback answers against the popular unseen items.
Errors are non-200 answers and broken connections. Latency p50/p99 are reported before,
during (deploy call to the first answer of the new version + 1 s) and after each deploy;
with 32 closed-loop clients on a 2-core machine they are mostly queueing, so a one-client
probe before the load gives the gateway's own latency.

    .venv/bin/python bench/bench_reliability.py [--duration 600] [--clients 32] [--versions-loaded 1]

Prints a Markdown table and writes bench/results/bench_reliability.json.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration" / "serving"))  # the reliability test's helpers

from gateway_helpers import Answer, Clients, OnnxOracle, write_marketplace  # noqa: E402
from gateway_process import gateway_process  # noqa: E402
from serving_helpers import make_exported_artifact  # noqa: E402

N_ITEMS, N_USERS, N_EVENTS, NEW_ITEMS, TOP_K, K = 2_000, 1_000, 30_000, 40, 20, 10
MODEL = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "max_length": 50}


@dataclass(frozen=True)
class Kept:
    """What is kept of one answer (a 600 s run has a few hundred thousand)."""

    user_id: str
    status: int
    source: str | None
    version: str | None
    items: tuple[tuple[str, float], ...]
    sent_at: float
    received_at: float
    latency_s: float


def keep(answer: Answer) -> Kept:
    body = answer.body
    items = tuple((i["item_id"], float(i["score"])) for i in body.get("items", ()))
    return Kept(answer.user_id, answer.status, body.get("source"), body.get("model_version"), items,
                answer.sent_at, answer.received_at, answer.latency_s)


def build_settings(root: Path, versions_loaded: int | None):
    from recaug.settings import load_settings

    deploy = {"model_name": "bench_reliability", "target": {"type": "local", "home": str(root / "triton")}}
    if versions_loaded is not None:
        deploy["served"] = {"versions_loaded": versions_loaded}
    settings = load_settings({
        "lake_root": str(root / "lake"),
        "export": {"top_k": TOP_K, "parity_batch_sizes": [1, 8], "parity_lengths": [1, 30]},
        "features": {"embedding_dim": 16, "include_augmented": False},
        "deploy": deploy,
    })
    settings.lake.ensure()
    return settings


@contextlib.contextmanager
def running_gateway(settings, root: Path):
    """`recaug serve gateway` on a free port, settings from a params.yaml written for it."""
    import yaml

    from recaug.settings import to_params

    params = root / "gateway-params.yaml"
    params.write_text(yaml.safe_dump(to_params(settings)))
    with gateway_process(params, root, log=root / "gateway.log") as port:
        yield port


def sequential_latency(port: int, users: list[str], requests: int) -> dict:
    """One client, one request at a time over a keep-alive connection: the gateway's own latency
    (comparable with bench_serving's gateway numbers), without the queueing of 32 clients."""
    from gateway_helpers import ask

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for user in users[:200]:  # warm-up: connection, item cache
        ask(connection, user, K)
    answers = [ask(connection, users[i % len(users)], K) for i in range(requests)]
    connection.close()
    return {**percentiles([a.latency_s for a in answers]), "statuses": sorted({a.status for a in answers})}


def percentiles(values_s: list[float]) -> dict:
    if not values_s:
        return {"n": 0, "p50_ms": None, "p99_ms": None}
    values = np.asarray(values_s) * 1e3
    return {"n": int(values.size), "p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99))}


def phases(deploys: list[dict], start: float, end: float) -> list[tuple[str, float, float]]:
    """(label, from, to) in Unix seconds: before, during and after each deploy."""
    bounds, cursor = [], start
    for number, deploy in enumerate(deploys, 1):
        bounds.append((f"before deploy {number}" if number == 1 else f"after deploy {number - 1}", cursor, deploy["started"]))
        bounds.append((f"during deploy {number}", deploy["started"], deploy["settled"]))
        cursor = deploy["settled"]
    bounds.append((f"after deploy {len(deploys)}", cursor, end))
    return bounds


def check_answers(settings, answers: list[Kept], popular: list[str]) -> tuple[list[str], dict]:
    """(wrong answers described, oracle statistics): model answers against onnxruntime, fallbacks against popular."""
    oracle = OnnxOracle(settings)
    wrong = []
    for answer in answers:
        if answer.status != 200:
            continue
        if answer.source == "model":
            got = list(answer.items)
            match = False
            for now in range(int(answer.sent_at), int(answer.received_at) + 1):
                want = oracle.expected(answer.user_id, answer.version, now, K)
                if [i for i, _ in got] == [i for i, _ in want] and all(abs(a[1] - b[1]) <= 1e-4 for a, b in zip(got, want)):
                    match = True
                    break
            if not match:
                wrong.append(f"{answer.user_id} v{answer.version}: {[i for i, _ in got]} != {[i for i, _ in want]}")
        else:
            seen = set() if answer.source == "fallback:feature_store_unavailable" else \
                set(oracle.context(answer.user_id).history_item_ids)
            want = [item for item in popular if item not in seen][:K]
            if [i for i, _ in answer.items] != want:
                wrong.append(f"{answer.user_id} {answer.source}: {[i for i, _ in answer.items]} != {want}")
        if len(oracle._expected) > 200_000:  # bounded memory on long runs
            oracle._expected.clear()
    return wrong, {"versions_checked": sorted(oracle._versions)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (deploys at 1/3 and 2/3)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent client threads")
    parser.add_argument("--sequential", type=int, default=500,
                        help="requests of the one-client latency probe before the load")
    parser.add_argument("--versions-loaded", type=int, default=None,
                        help="deploy.served.versions_loaded (default: the deploy default)")
    args = parser.parse_args()

    from recaug.deploy.deploy import deploy
    from recaug.deploy.server import LocalTritonServer
    from recaug.logs import configure_logging
    from recaug.serving_gateway.ranking import popular_items

    configure_logging()
    import torch

    torch.set_num_threads(2)
    results: dict = {"args": vars(args), "catalogue_items": N_ITEMS, "new_items_per_deploy": NEW_ITEMS, "users": N_USERS,
                     "top_k": TOP_K, "k": K, "model": MODEL, "cpu_count": os.cpu_count(),
                     "load_average_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        root = Path(tmp)
        settings = build_settings(root, args.versions_loaded)
        results["versions_loaded"] = settings.deploy.served.versions_loaded
        items = [f"sku-{i:05d}" for i in range(N_ITEMS)]
        interactions = write_marketplace(settings, items, n_users=N_USERS, n_events=N_EVENTS)
        users = sorted(interactions["user_id"].unique())
        catalogues = [items, [f"new-a{i:02d}" for i in range(NEW_ITEMS)] + items,
                      [f"new-b{i:02d}" for i in range(NEW_ITEMS)] + [f"new-a{i:02d}" for i in range(NEW_ITEMS)] + items]
        artifacts = [make_exported_artifact(settings, settings.lake.local("models", f"run-{n}"), catalogue, seed=n,
                                            **MODEL) for n, catalogue in enumerate(catalogues, 1)]
        popular = [item for item, _ in popular_items(settings, settings.deploy.gateway.popular_window_days)]
        server = LocalTritonServer.from_settings(settings)
        server.start()
        deploys = []
        try:
            first = deploy(settings, artifacts[0])
            logging.info("bench: version %d live; starting %d clients for %g s", first.version, args.clients,
                         args.duration)
            with running_gateway(settings, root) as port:
                results["sequential_before_load"] = sequential_latency(port, users, args.sequential)
                with Clients(port, users, count=args.clients, k=K, keep=keep) as clients:
                    started = time.time()
                    for fraction, artifact in zip((1 / 3, 2 / 3), artifacts[1:]):
                        time.sleep(max(0.0, started + fraction * args.duration - time.time()))
                        deploy_started = time.time()
                        record = deploy(settings, artifact)
                        deploy_done = time.time()
                        version = str(record.version)
                        clients.wait_for(lambda answers: any(a.version == version for a in answers[-2000:]), limit_s=60)
                        first_answer = min(a.received_at for a in clients.snapshot() if a.version == version)
                        deploys.append({"version": record.version, "outcome": record.outcome, "started": deploy_started,
                                        "deploy_s": deploy_done - deploy_started,
                                        "first_answer_after_s": first_answer - deploy_started,
                                        "settled": max(deploy_done, first_answer) + 1.0})
                        logging.info("bench: version %d deployed in %.1f s; first answer from it %.2f s after the deploy "
                                      "call", record.version, deploy_done - deploy_started, first_answer - deploy_started)
                    time.sleep(max(0.0, started + args.duration - time.time()))
                    ended = time.time()
                    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", port)) as conn:
                        conn.request("GET", "/metrics")
                        results["gateway_metrics"] = [line for line in conn.getresponse().read().decode().splitlines()
                                                      if line.startswith(("recaug_gateway_answers_total",
                                                                          "recaug_gateway_errors_total"))]
            answers, failures = clients.snapshot(), clients.failures
        finally:
            server.stop()
        logging.info("bench: checking %d answers against onnxruntime", len(answers))
        wrong, oracle_stats = check_answers(settings, answers, popular)

    errors = [a for a in answers if a.status != 200]
    table = []
    for label, begin, end in phases(deploys, started, ended):
        window = [a for a in answers if begin <= a.sent_at < end]
        sources: dict[str, int] = {}
        for a in window:
            sources[a.source or f"http {a.status}"] = sources.get(a.source or f"http {a.status}", 0) + 1
        table.append({"phase": label, "seconds": end - begin, **percentiles([a.latency_s for a in window]),
                      "errors": sum(a.status != 200 for a in window), "sources": sources})
    results.update({
        "deploys": deploys, "seconds": ended - started, "answers": len(answers), "throughput_rps": len(answers) / (ended - started),
        "errors": len(errors) + len(failures), "error_samples": [f"{a.status} {a.user_id}" for a in errors[:5]] + failures[:5],
        "wrong_answers": len(wrong), "wrong_samples": wrong[:10], "oracle": oracle_stats, "phases": table,
        "checks": {"errors": {"value": len(errors) + len(failures), "target": 0},
                   "wrong_answers": {"value": len(wrong), "target": 0}},
        "load_average_end": os.getloadavg(),
    })

    print(f"\n{len(answers)} answers in {ended - started:.0f} s ({len(answers) / (ended - started):.0f} req/s, "
          f"{args.clients} clients), Triton keeping {results['versions_loaded']} version(s) loaded")
    probe = results["sequential_before_load"]
    print(f"one client, one request at a time (before the load): p50 {probe['p50_ms']:.2f} ms, "
          f"p99 {probe['p99_ms']:.2f} ms over {probe['n']} requests")
    print("\n| phase | seconds | answers | p50 ms | p99 ms | errors | answers by source |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for row in table:
        p50 = f"{row['p50_ms']:.2f}" if row["p50_ms"] is not None else "-"
        p99 = f"{row['p99_ms']:.2f}" if row["p99_ms"] is not None else "-"
        sources = ", ".join(f"{k} {v}" for k, v in sorted(row["sources"].items()))
        print(f"| {row['phase']} | {row['seconds']:.1f} | {row['n']} | {p50} | {p99} | {row['errors']} | {sources} |")
    for deploy_info in deploys:
        print(f"\ndeploy of version {deploy_info['version']}: {deploy_info['deploy_s']:.1f} s; first answer from it "
              f"{deploy_info['first_answer_after_s']:.2f} s after the deploy call")
    print("\n| check | value | target |")
    print("|---|---:|---:|")
    print(f"| errors (non-200 + broken connections) | {len(errors) + len(failures)} | 0 |")
    print(f"| wrong answers (vs onnxruntime / popular) | {len(wrong)} | 0 |")
    for sample in wrong[:5]:
        print(f"wrong: {sample}")

    out = ROOT / "bench" / "results" / "bench_reliability.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n1-minute load average: start {results['load_average_start'][0]:.1f}, end "
          f"{results['load_average_end'][0]:.1f} on {results['cpu_count']} CPUs (other processes inflate latencies)")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if not wrong and not errors and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
