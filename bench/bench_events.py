"""Feedback events: throughput of POST /events (single events and batches) and the time from
an event to a /recommend answer that reflects it; the event log's group commit against the
one-line alternative (open, write, fsync per append).

Set-up as bench_serving.py: a real FusionSASRec (random weights) over a 10,000-item
catalogue exported to ONNX and deployed to the bundled tritonserver, user histories in a
real Feast SQLite store (2,000 users, 50-event histories), the gateway running as
`recaug serve gateway` in its own process, called over keep-alive connections (http.client).

- freshness: for --fresh-users users, one at a time: GET /recommend, POST a click on its
  top item, GET /recommend again; event-to-fresh-answer = from sending the POST to having
  the second answer, counted fresh when that answer is the model's and no longer holds the
  clicked item (it is now history). A fresh answer needs no retry: the push happens before
  the 200.
- throughput: C client threads post for --seconds: single clicks (C = 1, 8), single
  impressions (logged, nothing to push; C = 8), and batches of 100 events (80 impressions,
  20 clicks over 20 users; C = 4). Every event is fsynced before its 200.
- group commit, in-process on the lake's disk: 8 threads appending one event at a time
  for --seconds to EventLog (write under a lock, fdatasync outside it) vs the same with
  the fdatasync inside the lock (serial flushes) vs the one-line alternative,
  `open(..., "a")` + write + fsync per append.

    .venv/bin/python bench/bench_events.py [--seconds 20] [--fresh-users 300]

Prints Markdown tables and writes bench/results/events.json.
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
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_serving import N_ITEMS, N_USERS, build_settings, deploy_as, export_model, percentiles, write_marketplace  # noqa: E402
from gateway_process import gateway_process  # noqa: E402

MODEL = "bench_events"
TARGETS = {"fresh_answer_p99_ms": 1000.0, "fresh_fraction": 1.0}


@contextlib.contextmanager
def running_gateway(settings, root: Path, artifact: str):
    import yaml

    from recaug.settings import to_params

    params = root / "gateway-params.yaml"
    gateway_settings = settings.model_copy(deep=True)
    gateway_settings.deploy.model_name = MODEL
    params.write_text(yaml.safe_dump(to_params(gateway_settings)))
    with gateway_process(params, root, ["--artifact", artifact], log=root / "gateway.log") as port:
        yield port


class Client:
    """One keep-alive connection to the gateway."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def recommend(self, user: str, k: int = 10) -> dict:
        self.connection.request("GET", "/recommend?" + urllib.parse.urlencode({"user_id": user, "k": k}))
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"/recommend {response.status}: {body[:300]!r}")
        return json.loads(body)

    def post(self, events: list[dict]) -> tuple[int, dict]:
        self.connection.request("POST", "/events", body=json.dumps({"events": events}),
                                headers={"content-type": "application/json"})
        response = self.connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")


def freshness(port: int, users: int) -> dict:
    client = Client(port)
    for i in range(200):  # warm-up on other users
        client.recommend(f"user-{N_USERS - 1 - i}")
    samples, post_samples, fresh, sources = [], [], 0, {}
    for i in range(users):
        user = f"user-{i}"
        before = client.recommend(user)
        clicked = before["items"][0]["item_id"]
        started = time.perf_counter()
        status, receipt = client.post([{"user_id": user, "item_id": clicked, "event_type": "click"}])
        posted = time.perf_counter()
        after = client.recommend(user)
        done = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"POST /events {status}: {receipt}")
        samples.append(done - started)
        post_samples.append(posted - started)
        sources[after["source"]] = sources.get(after["source"], 0) + 1
        fresh += after["source"] == "model" and clicked not in [item["item_id"] for item in after["items"]] \
            and receipt["online"] == "pushed"
    return {"event_to_fresh_answer": percentiles(samples), "post": percentiles(post_samples),
            "fresh": fresh, "users": users, "fresh_fraction": fresh / users, "answer_sources": sources}


def throughput(port: int, clients: int, seconds: float, make_request) -> dict:
    """`clients` threads posting `make_request(worker, n)` (a list of events) for `seconds`."""
    counts, latencies, errors = [0] * clients, [[] for _ in range(clients)], [0] * clients
    deadline = time.monotonic() + seconds

    def work(worker: int) -> None:
        client, n = Client(port), 0
        while time.monotonic() < deadline:
            events = make_request(worker, n)
            started = time.perf_counter()
            try:
                status, _ = client.post(events)
            except OSError:
                status, client = 0, Client(port)
            latencies[worker].append(time.perf_counter() - started)
            if status == 200:
                counts[worker] += len(events)
            else:
                errors[worker] += 1
            n += 1

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    requests = sum(len(values) for values in latencies)
    return {"clients": clients, "seconds": elapsed, "events": sum(counts), "requests": requests,
            "errors": sum(errors), "events_per_s": sum(counts) / elapsed, "requests_per_s": requests / elapsed,
            **percentiles([value for values in latencies for value in values])}


def single(kind: str, items: list[str]):
    def make(worker: int, n: int) -> list[dict]:
        return [{"user_id": f"user-{(worker * 997 + n) % N_USERS}", "item_id": items[(worker * 31 + n * 7) % len(items)],
                 "event_type": kind}]
    return make


def batch_of_100(items: list[str]):
    def make(worker: int, n: int) -> list[dict]:
        base = (worker * 7919 + n * 20) % N_USERS
        return [{"user_id": f"user-{(base + e % 20) % N_USERS}", "item_id": items[(n * 100 + e) % len(items)],
                 "event_type": "click" if e < 20 else "impression"} for e in range(100)]
    return make


def group_commit(settings, seconds: float, threads: int = 8) -> dict:
    """EventLog.append vs serial flushes vs open/write/fsync per append: same disk, same
    threads, one validated and encoded event per call."""
    from recaug.events.log import EventLog, encode
    from recaug.events.validation import validate_events

    event = {"user_id": "user-1", "item_id": "sku-00001", "event_type": "click"}
    results = {}

    def run(append) -> dict:
        counts = [0] * threads
        deadline = time.monotonic() + seconds

        def work(worker: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                append(worker, n)
                n += 1
            counts[worker] = n

        started = time.monotonic()
        pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return {"appends": sum(counts), "appends_per_s": sum(counts) / (time.monotonic() - started)}

    log_settings = settings.model_copy(deep=True)
    log_settings.events.log_dir = str(settings.lake.local("events") / "bench-group-commit")
    event_log = EventLog(log_settings)
    results["event_log"] = run(lambda w, n: event_log.append([{**event, "event_id": f"g{w}-{n}"}]))
    event_log.close()

    config = settings.events

    def line(prefix: str, worker: int, n: int) -> bytes:
        [record] = validate_events([{**event, "event_id": f"{prefix}{worker}-{n}"}], config, (0.0, 5.0))
        return encode(record, record["timestamp"])

    serial_fd = os.open(settings.lake.local("events") / "bench-serial.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    serial_lock = threading.Lock()

    def serial(worker: int, n: int) -> None:
        data = line("s", worker, n)
        with serial_lock:
            os.write(serial_fd, data)
            os.fdatasync(serial_fd)

    results["serial_flush"] = run(serial)
    os.close(serial_fd)
    naive_path = settings.lake.local("events") / "bench-naive.jsonl"

    def naive(worker: int, n: int) -> None:
        data = line("n", worker, n)
        with open(naive_path, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    results["open_write_fsync"] = run(naive)
    results["threads"] = threads
    for name in ("event_log", "serial_flush", "open_write_fsync"):
        results[name]["vs_open_write_fsync"] = results[name]["appends_per_s"] / results["open_write_fsync"]["appends_per_s"]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per throughput measurement")
    parser.add_argument("--fresh-users", type=int, default=300, help="users in the freshness measurement")
    args = parser.parse_args()

    from recaug.deploy.server import LocalTritonServer
    from recaug.features.build import build_features
    from recaug.features.store import apply_definitions, materialize
    from recaug.logs import configure_logging

    configure_logging()
    import torch

    torch.set_num_threads(2)
    results: dict = {"catalogue_items": N_ITEMS, "users": N_USERS, "args": vars(args), "cpu_count": os.cpu_count(),
                     "load_average": {"start": os.getloadavg()}}
    load = results["load_average"]
    with tempfile.TemporaryDirectory(prefix="bench-events-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None) as tmp:
        settings = build_settings(Path(tmp))
        items = [f"sku-{i:05d}" for i in range(N_ITEMS)]
        write_marketplace(settings, items)
        artifact = export_model(settings, items)
        build_features(settings)
        apply_definitions(settings)
        materialize(settings)
        server = LocalTritonServer.from_settings(settings)
        server.start()
        try:
            deploy_as(settings, artifact, MODEL, batching=True)
            with running_gateway(settings, Path(tmp), artifact) as port:
                load["freshness"] = os.getloadavg()
                results["freshness"] = freshness(port, args.fresh_users)
                logging.info("freshness: %s", results["freshness"]["event_to_fresh_answer"])
                load["throughput"] = os.getloadavg()
                runs = {}
                for label, clients, make in (("single_click_c1", 1, single("click", items)),
                                             ("single_click_c8", 8, single("click", items)),
                                             ("single_impression_c8", 8, single("impression", items)),
                                             ("batch100_c4", 4, batch_of_100(items))):
                    runs[label] = throughput(port, clients, args.seconds, make)
                    logging.info("%s: %.0f events/s", label, runs[label]["events_per_s"])
                results["throughput"] = runs
            load["group_commit"] = os.getloadavg()
            results["group_commit"] = group_commit(settings, args.seconds)
        finally:
            server.stop()
    load["end"] = os.getloadavg()

    fresh = results["freshness"]
    results["checks"] = {
        "fresh_answer_p99_ms": {"value": fresh["event_to_fresh_answer"]["p99_ms"], "target": TARGETS["fresh_answer_p99_ms"],
                                "pass": fresh["event_to_fresh_answer"]["p99_ms"] <= TARGETS["fresh_answer_p99_ms"]},
        "fresh_fraction": {"value": fresh["fresh_fraction"], "target": TARGETS["fresh_fraction"],
                           "pass": fresh["fresh_fraction"] >= TARGETS["fresh_fraction"]},
        "throughput_errors": {"value": sum(r["errors"] for r in results["throughput"].values()), "target": 0,
                              "pass": all(r["errors"] == 0 for r in results["throughput"].values())},
    }

    print("\n| event to fresh answer | p50 ms | p99 ms | fresh answers |")
    print("|---|---:|---:|---:|")
    print(f"| POST /events (click) alone | {fresh['post']['p50_ms']:.2f} | {fresh['post']['p99_ms']:.2f} | |")
    print(f"| POST + next /recommend | {fresh['event_to_fresh_answer']['p50_ms']:.2f} | "
          f"{fresh['event_to_fresh_answer']['p99_ms']:.2f} | {fresh['fresh']}/{fresh['users']} |")
    print("\n| POST /events load | clients | events/s | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, row in results["throughput"].items():
        print(f"| {label} | {row['clients']} | {row['events_per_s']:.0f} | {row['requests_per_s']:.0f} | "
              f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['errors']} |")
    commit = results["group_commit"]
    print(f"\n| durable append, {commit['threads']} threads, 1 event per call | appends/s | vs open+write+fsync |")
    print("|---|---:|---:|")
    for name, label in (("event_log", "EventLog: write under a lock, fdatasync outside it"),
                        ("serial_flush", "write + fdatasync both under one lock"),
                        ("open_write_fsync", "open + write + fsync per append (one line)")):
        row = commit[name]
        print(f"| {label} | {row['appends_per_s']:.0f} | {row['vs_open_write_fsync']:.2f}x |")
    print("\n| check | value | target | pass |")
    print("|---|---:|---:|---|")
    for key, check in results["checks"].items():
        print(f"| {key} | {check['value']:.3f} | {check['target']} | {check['pass']} |")

    out = ROOT / "bench" / "results" / "events.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    loads = ", ".join(f"{stage} {value[0]:.1f}" for stage, value in load.items())
    print(f"\n1-minute load average at the start of each part: {loads} on {results['cpu_count']} CPUs "
          "(other processes on the machine inflate every number above)")
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
