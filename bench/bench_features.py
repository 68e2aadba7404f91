"""Online feature lookup latency: Feast Python SDK vs the Feast feature server.

MovieLens latest-small (610 users, 9,742 movies, 100,836 ratings; read from
../shared, never copied) goes through recaug's real fusion, apply and materialize
into a SQLite online store. Then, for 1 and 100 users, it times lookups of
- `user_serving`: history arrays (50 item ids + 50 timestamps) and 3 behaviour numbers,
  the recommendation gateway's input;
- `user_serving_full`: the same plus every behaviour statistic and the 384-d profile
  embedding,
through the SDK (recaug.features.online's cached reader) and through `feast serve`
(HTTP keep-alive, JSON decoded by the client, as a gateway would). Embedding values
are random float32 (the cost of a lookup depends on their size, not their values).

Prints a Markdown table and writes bench/results/features.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("BENCH_MOVIELENS", ROOT.parent / "shared" / "datasets" / "ml-latest-small"))
REPEATS = {1: int(os.environ.get("BENCH_REPEATS_1", "1000")), 100: int(os.environ.get("BENCH_REPEATS_100", "200"))}
DIM = 384
TARGETS_MS = {("sdk", 1): 2.0, ("server", 1): 5.0, ("server", 100): 25.0}


def write_lake(settings) -> None:
    from recaug import io
    from recaug.data.schemas import INTERACTIONS, ITEMS, conform

    ratings = pd.read_csv(DATA / "ratings.csv")
    movies = pd.read_csv(DATA / "movies.csv")
    interactions = conform(pd.DataFrame({
        "user_id": ratings["userId"].astype(str), "item_id": ratings["movieId"].astype(str),
        "timestamp": ratings["timestamp"], "event_type": "rating", "rating": ratings["rating"],
    }), INTERACTIONS).drop_duplicates(["user_id", "item_id", "timestamp"])
    items = conform(pd.DataFrame({
        "item_id": movies["movieId"].astype(str), "title": movies["title"],
        "categories": movies["genres"].replace("(no genres listed)", ""),
    }), ITEMS)
    rng = np.random.default_rng(0)
    users = sorted(interactions["user_id"].unique())
    io.write_parquet(interactions, settings.lake.interactions)
    io.write_parquet(items, settings.lake.items)
    for name, key, ids in (("users", "user_id", users), ("items", "item_id", items["item_id"].tolist())):
        io.write_parquet(pd.DataFrame({
            key: ids, "embedding": list(rng.normal(size=(len(ids), DIM)).astype(np.float32)),
            "encoder": "random", "encoder_version": "bench", "content_hash": "-",
        }), settings.lake.url("embeddings", f"{name}.parquet"))


def response_size(url: str, service: str, ids: list[str]) -> int:
    body = json.dumps({"feature_service": service, "entities": {"user_id": ids}}).encode()
    request = urllib.request.Request(f"{url}/get-online-features", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return len(response.read())


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": len(ms)}


def time_calls(call, repeats: int) -> dict[str, float]:
    for _ in range(min(20, repeats)):
        call()  # warm caches and connections
    samples = []
    cpu_start = time.process_time()
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    # CPU time of this process per call: less sensitive than wall time to other load
    return {**percentiles(samples), "cpu_mean_ms": (time.process_time() - cpu_start) / repeats * 1e3}


def main() -> int:
    from recaug.features.build import build_features
    from recaug.features.online import get_user_context, online_reader
    from recaug.features.server import FeatureServer, FeatureServerClient
    from recaug.features.store import apply_definitions, materialize
    from recaug.logs import configure_logging
    from recaug.settings import load_settings

    configure_logging()
    if not DATA.is_dir():
        print(f"MovieLens latest-small not found at {DATA}; set BENCH_MOVIELENS", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        settings = load_settings({"lake_root": str(Path(tmp) / "lake"), "run_id": "bench"})
        settings.lake.ensure()
        write_lake(settings)
        stages = {}
        for name, stage in (("build", build_features), ("apply", apply_definitions), ("materialize", materialize)):
            start = time.perf_counter()
            stage(settings)
            stages[name] = time.perf_counter() - start
        start = time.perf_counter()
        rerun = materialize(settings)
        stages["materialize (rerun, no-op)"] = time.perf_counter() - start
        assert all(v.skipped for v in rerun.views)

        reader = online_reader(settings)
        users = sorted(pd.read_parquet(settings.lake.interactions, columns=["user_id"])["user_id"].unique())
        rows = []
        with FeatureServer(settings) as server:
            client = FeatureServerClient(server.url)
            for service in ("user_serving", "user_serving_full"):
                refs = reader.feature_refs(service)
                for n in (1, 100):
                    ids = users[:n]
                    rows.append({
                        "service": service, "users": n,
                        "sdk": time_calls(lambda: reader.read(service, "user_id", ids), REPEATS[n]),
                        "server": time_calls(lambda: client.online_features("user_id", ids, features=refs), REPEATS[n]),
                        "server_by_service_name": time_calls(
                            lambda: client.online_features("user_id", ids, feature_service=service), REPEATS[n] // 2),
                        "response_kib": response_size(server.url, service, ids) / 1024,
                    })
            rows.append({"service": "get_user_context (SDK + pydantic)", "users": 1,
                         "sdk": time_calls(lambda: get_user_context(users[:1], settings), REPEATS[1])})
            client.close()

    load = os.getloadavg()[0]
    print(f"\nOnline lookups on MovieLens latest-small ({len(users)} users, history length "
          f"{settings.features.history_length}, {DIM}-d profile embedding), SQLite online store, ms; "
          f"1-min load average {load:.1f} on {os.cpu_count()} CPUs\n")
    print("| feature service | users | SDK p50 | SDK p99 | SDK CPU/call | server p50 | server p99 | server / SDK (p50) "
          "| server by service name p50 / p99 | response |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        sdk, srv = row["sdk"], row.get("server")
        if srv is None:
            print(f"| {row['service']} | {row['users']} | {sdk['p50_ms']:.2f} | {sdk['p99_ms']:.2f} | "
                  f"{sdk['cpu_mean_ms']:.2f} | – | – | – | – | – |")
            continue
        by_name = row["server_by_service_name"]
        print(f"| {row['service']} | {row['users']} | {sdk['p50_ms']:.2f} | {sdk['p99_ms']:.2f} | {sdk['cpu_mean_ms']:.2f} | "
              f"{srv['p50_ms']:.2f} | "
              f"{srv['p99_ms']:.2f} | {srv['p50_ms'] / sdk['p50_ms']:.1f}x | {by_name['p50_ms']:.2f} / {by_name['p99_ms']:.2f} "
              f"| {row['response_kib']:.1f} KiB |")
    lean = {r["users"]: r for r in rows if r["service"] == "user_serving"}
    full = {r["users"]: r for r in rows if r["service"] == "user_serving_full"}
    print("\nuser_serving_full / user_serving (p50): " + "; ".join(
        f"{n} user(s): SDK {full[n]['sdk']['p50_ms'] / lean[n]['sdk']['p50_ms']:.1f}x, "
        f"server {full[n]['server']['p50_ms'] / lean[n]['server']['p50_ms']:.1f}x" for n in (1, 100)))
    print("server by service name / by feature refs (p50): " + "; ".join(
        f"{r['service']} {r['users']}: {r['server_by_service_name']['p50_ms'] / r['server']['p50_ms']:.1f}x"
        for r in rows if "server" in r))
    checks = {f"{where} p99 {n} user(s) <= {limit} ms": lean[n][where]["p99_ms"] <= limit
              for (where, n), limit in TARGETS_MS.items()}
    print("\nTargets (user_serving): " + "; ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in checks.items()))
    print("Stage seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    out = ROOT / "bench" / "results" / "features.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"dataset": "ml-latest-small", "users": len(users), "embedding_dim": DIM,
                               "history_length": settings.features.history_length, "lookups": rows,
                               "targets": checks, "stage_seconds": stages,
                               "load_average_1min": load, "cpus": os.cpu_count()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
