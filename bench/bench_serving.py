"""Serving latency and throughput: Triton (HTTP, gRPC, with/without dynamic batching),
in-process onnxruntime and torch eager, and the recommendation gateway end to end.

A real FusionSASRec (default ModelConfig, random weights) over a 10,000-item catalogue
is exported with recaug.export.onnx.export() (top-20) and deployed with
recaug.deploy.deploy.deploy() to the bundled tritonserver twice: `bench_batched`
(dynamic batching) and `bench_unbatched`, same config otherwise (one instance, one
onnxruntime thread). Requests carry 50-event histories.

Clients. Latency: tritonclient HTTP/gRPC, one request at a time. Throughput and soak:
one process with N asyncio callers on one gRPC channel (grpc.aio and tritonclient's
generated stubs); each request protobuf is built once and reused, and asks for
top_ids/top_scores like the gateway, so the client costs ~0.1-0.2 ms CPU per request
instead of ~0.3 with tritonclient's InferInput path; on 2 cores the client shares the
CPU with the server. Both models get the same client and alternate in short windows
(load from other processes hits both alike). The gateway reads user histories from a
real Feast SQLite store built by recaug.features from a synthetic marketplace (2,000
users); it runs as `recaug serve gateway` in its own process and is called over one
keep-alive connection (http.client), one request at a time: 1,000 warm-up users, then
the measured users (others), with the item cache on (default) and off.

Batch-1 tuning (issue #16.5) runs first: the same model also deployed with queue delay 100
and 0 us, then every batch-1 latency row (HTTP/gRPC, top-K outputs only as the gateway
asks, and the former row with all outputs) and every model's 1/8/32-client throughput once
per round, the order rotated each round; medians over rounds, the load average per round.

    .venv/bin/python bench/bench_serving.py [--duration 60] [--window 12] [--requests 400]
    .venv/bin/python bench/bench_serving.py --only-tuning --requests 400 --tuning-rounds 5

Prints Markdown tables and writes bench/results/serving.json (serving_tuning.json with
--only-tuning).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway_process import gateway_process  # noqa: E402

N_ITEMS, N_USERS, LENGTH, TOP_K = 10_000, 2_000, 50, 20
TARGETS = {"triton_http_p99_ms_batch1": 1.2, "batching_speedup_32_clients": 3.0, "gateway_p99_ms": 10.0}


def percentiles(samples_s: list[float]) -> dict[str, float]:
    values = np.asarray(samples_s) * 1e3
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99)),
            "mean_ms": float(values.mean()), "n": int(values.size)}


def requests_batch(batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    now = 1_760_000_000
    gaps = rng.integers(60, 86_400, size=(batch, LENGTH))
    timestamps = now - 3_600 - np.cumsum(gaps[:, ::-1], axis=1)[:, ::-1]
    return {"history": rng.integers(1, N_ITEMS + 1, size=(batch, LENGTH)).astype(np.int64),
            "timestamps": timestamps.astype(np.int64), "now": np.full((batch,), now, dtype=np.int64)}


def build_settings(root: Path):
    from recaug.settings import load_settings

    settings = load_settings({
        "lake_root": str(root / "lake"),
        "export": {"top_k": TOP_K, "parity_batch_sizes": [1, 32], "parity_lengths": [1, LENGTH]},
        "features": {"embedding_dim": 32, "include_augmented": False},
        "deploy": {"target": {"type": "local", "home": str(root / "triton")},
                   "served": {"max_batch_size": 64}},  # queue delay: the deploy default
    })
    settings.lake.ensure()
    return settings


def write_marketplace(settings, items: list[str]) -> None:
    from recaug import io

    rng = np.random.default_rng(0)
    n_events = N_USERS * 30
    start = pd.Timestamp("2026-06-01", tz="UTC")
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
    interactions = pd.DataFrame({
        "user_id": [f"user-{u}" for u in rng.integers(0, N_USERS, n_events)],
        "item_id": np.asarray(items)[rng.choice(N_ITEMS, n_events, p=popularity / popularity.sum())],
        "timestamp": start + pd.to_timedelta(np.sort(rng.uniform(0, 20 * 86_400, n_events)).round(), unit="s"),
        "event_type": "click", "source": "observed", "confidence": 1.0,
    }).drop_duplicates(["user_id", "item_id", "timestamp"])
    catalogue = pd.DataFrame({"item_id": items, "title": [f"Product {i}" for i in items],
                              "categories": [f"cat{i % 40}" for i in range(N_ITEMS)], "first_seen": start})
    embeddings = pd.DataFrame({"item_id": items, "embedding": list(rng.normal(size=(N_ITEMS, 32)).astype(np.float32)),
                               "encoder": "bench", "encoder_version": "1", "content_hash": "h"})
    io.write_parquet(interactions, settings.lake.interactions)
    io.write_parquet(catalogue, settings.lake.items)
    io.write_parquet(embeddings, settings.lake.url("embeddings", "items.parquet"))


def export_model(settings, items: list[str]) -> str:
    import torch

    from recaug.export.onnx import export
    from recaug.models.artifact import build_model, model_params, save_artifact
    from recaug.models.config import ModelConfig

    torch.manual_seed(0)
    model = build_model("fusion_sasrec", ModelConfig(), N_ITEMS)
    artifact = settings.lake.url("models", "bench")
    save_artifact(artifact, model, [None, *items], model_params(model))
    result = export(settings, artifact)
    logging.info("exported: worst parity %.2e over %d checks", result.max_abs_score_diff, len(result.parity))
    return artifact


def deploy_as(settings, artifact: str, name: str, batching: bool, queue_delay_us: int | None = None):
    from recaug.deploy.deploy import deploy

    variant = settings.model_copy(deep=True)
    variant.deploy.model_name = name
    variant.deploy.served.dynamic_batching = batching
    if queue_delay_us is not None:
        variant.deploy.served.max_queue_delay_us = queue_delay_us
    return deploy(variant, artifact)


# Batch-1 tuning (issue #16.5): (row, model, protocol, outputs asked for). "before" is what this
# bench measured until now (HTTP, all three outputs incl. the 64-float user vector).
ROUTED = "bench_adaptive|bench_batched"
TUNING_MODELS = {"bench_unbatched": "no batching", "bench_batched": "dynamic batching, queue delay 500 us (old default)",
                 "bench_delay100": "dynamic batching, queue delay 100 us",
                 "bench_adaptive": "dynamic batching, queue delay 0 (batches only what queued meanwhile)",
                 ROUTED: "routed by load: delay 0 when no call is in flight, else delay 500"}
TOP_K_ONLY = ("top_ids", "top_scores")
TUNING_LATENCY = (("before: unbatched, HTTP, all outputs", "bench_unbatched", "http", (*TOP_K_ONLY, "user_vector")),
                  *((f"{label}, {protocol}, top-K only", name, protocol.lower(), TOP_K_ONLY)
                    for protocol in ("HTTP", "gRPC")
                    for label, name in (("unbatched", "bench_unbatched"), ("delay 500", "bench_batched"),
                                        ("delay 100", "bench_delay100"), ("delay 0", "bench_adaptive"))))


def outputs_latency(state, name: str, protocol: str, outputs: tuple[str, ...], inputs: dict, repeats: int) -> dict:
    """Sequential batch-1 calls asking Triton for `outputs` only (the gateway asks for top-K)."""
    import tritonclient.grpc as grpc
    import tritonclient.http as http

    module, client = (http, http.InferenceServerClient(state.http_url)) if protocol == "http" else \
        (grpc, grpc.InferenceServerClient(state.grpc_url))
    tensors = grpc_inputs(module, inputs)
    wanted = [module.InferRequestedOutput(output) for output in outputs]
    samples = []
    for position in range(20 + repeats):
        start = time.perf_counter()
        client.infer(name, tensors, outputs=wanted)
        if position >= 20:
            samples.append(time.perf_counter() - start)
    client.close()
    return percentiles(samples)


def tuning_rounds(state, rounds: int, repeats: int, window: float) -> dict:
    """Every latency row and every model's 1/8/32-client throughput once per round, the order
    rotated each round (the machine is shared: load drifts), then medians over rounds."""
    inputs = requests_batch(1, seed=1)
    per_round: list[dict] = []
    for index in range(rounds):
        row: dict = {"load_average": os.getloadavg()}
        order = TUNING_LATENCY[index % len(TUNING_LATENCY):] + TUNING_LATENCY[:index % len(TUNING_LATENCY)]
        for label, name, protocol, outputs in order:
            row[label] = outputs_latency(state, name, protocol, outputs, inputs, repeats)
        names = list(TUNING_MODELS)
        names = names[index % len(names):] + names[:index % len(names)]
        for clients in (1, 8, 32):
            for name in names:
                row[f"{name}_c{clients}"] = closed_loop(state.grpc_url, name, clients, window)
        logging.info("tuning round %d/%d done (load %.1f)", index + 1, rounds, row["load_average"][0])
        per_round.append(row)
    latency = {label: {stat: float(np.median([r[label][stat] for r in per_round])) for stat in ("p50_ms", "p99_ms")}
               | {"rounds_p99_ms": [round(r[label]["p99_ms"], 3) for r in per_round]} for label, *_ in TUNING_LATENCY}
    throughput = {f"{name}_c{clients}": {"throughput_rps": float(np.median([r[f"{name}_c{clients}"]["throughput_rps"]
                                                                             for r in per_round])),
                                         "p99_ms": float(np.median([r[f"{name}_c{clients}"]["p99_ms"] for r in per_round])),
                                         "rounds_rps": [round(r[f"{name}_c{clients}"]["throughput_rps"]) for r in per_round],
                                         "share_to_lone_model": float(np.median([r[f"{name}_c{clients}"]["share_to_lone_model"]
                                                                                 for r in per_round]))}
                  for name in TUNING_MODELS for clients in (1, 8, 32)}
    return {"rounds": rounds, "requests_per_round": repeats, "window_s": window, "models": TUNING_MODELS,
            "load_average_per_round": [r["load_average"] for r in per_round], "latency_b1": latency,
            "throughput": throughput,
            "scaling_32_vs_1": {name: throughput[f"{name}_c32"]["throughput_rps"] / throughput[f"{name}_c1"]["throughput_rps"]
                                for name in TUNING_MODELS}}


def print_tuning(tuning: dict) -> None:
    before = tuning["latency_b1"][TUNING_LATENCY[0][0]]
    print(f"\nBatch-1 tuning: medians over {tuning['rounds']} interleaved rounds of {tuning['requests_per_round']} "
          "sequential requests (load average per round: "
          + ", ".join(f"{load[0]:.1f}" for load in tuning["load_average_per_round"]) + ")")
    print("\n| batch 1 | p50 ms | p99 ms | p99 vs before | p99 per round |")
    print("|---|---:|---:|---:|---|")
    for label, row in tuning["latency_b1"].items():
        print(f"| {label} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} | {row['p99_ms'] / before['p99_ms']:.2f}x | "
              f"{' '.join(f'{v:.2f}' for v in row['rounds_p99_ms'])} |")
    print("\n| model | 1 client req/s | 8 clients | 32 clients | 32 vs 1 | 32 clients vs no batching | p99 ms at 32 "
          "| sent to the lone-request model at 1/8/32 |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    plain = tuning["throughput"]["bench_unbatched_c32"]["throughput_rps"]
    for name, description in tuning["models"].items():
        rows = [tuning["throughput"][f"{name}_c{c}"] for c in (1, 8, 32)]
        shares = " / ".join(f"{row['share_to_lone_model']:.0%}" for row in rows) if name == ROUTED else ""
        print(f"| {description} | {rows[0]['throughput_rps']:.0f} | {rows[1]['throughput_rps']:.0f} | "
              f"{rows[2]['throughput_rps']:.0f} | {tuning['scaling_32_vs_1'][name]:.2f}x | "
              f"{rows[2]['throughput_rps'] / plain:.2f}x | {rows[2]['p99_ms']:.2f} | "
              f"{shares} |")


def http_latency(url: str, name: str, inputs: dict, repeats: int) -> dict:
    from recaug.deploy.client import infer_http, triton_client

    with triton_client(url) as client:
        for _ in range(20):
            infer_http(client, name, inputs)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            infer_http(client, name, inputs)
            samples.append(time.perf_counter() - start)
    return percentiles(samples)


def grpc_inputs(module, inputs: dict) -> list:
    tensors = []
    for key in ("history", "timestamps", "now"):
        value = inputs[key] if key != "now" else inputs[key].reshape(-1, 1)
        tensor = module.InferInput(key, list(value.shape), "INT64")
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)
    return tensors


def grpc_latency(url: str, name: str, inputs: dict, repeats: int) -> dict:
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(url)
    tensors = grpc_inputs(grpc, inputs)
    for _ in range(20):
        client.infer(name, tensors)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        client.infer(name, tensors)
        samples.append(time.perf_counter() - start)
    client.close()
    return percentiles(samples)


def infer_requests(name: str, count: int) -> list:
    """`count` single-history ModelInferRequest protobufs for `name`, built once."""
    from tritonclient.grpc import service_pb2

    built = []
    for seed in range(count):
        inputs = requests_batch(1, seed)
        inputs["now"] = inputs["now"].reshape(-1, 1)
        request = service_pb2.ModelInferRequest(model_name=name)
        for key in ("history", "timestamps", "now"):
            tensor = request.inputs.add(name=key, datatype="INT64")
            tensor.shape.extend(inputs[key].shape)
            request.raw_input_contents.append(inputs[key].tobytes())
        for output in ("top_ids", "top_scores"):
            request.outputs.add(name=output)
        built.append(request)
    return built


async def _closed_loop(url: str, name: str, clients: int, seconds: float) -> dict:
    """`clients` concurrent callers, each sending its next request when the last one returns.
    `name` "lone|busy" routes by load: to `lone` when no other call is in flight, else `busy`."""
    import grpc
    from tritonclient.grpc import service_pb2_grpc

    channel = grpc.aio.insecure_channel(url)
    infer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer
    lone, _, busy = name.partition("|")
    routed = {"lone": infer_requests(lone, 64), "busy": infer_requests(busy or lone, 64)}
    in_flight, sent_lone = 0, 0
    done, errors, latencies = 0, 0, []
    first_error = ""
    stop_at = time.perf_counter() + seconds

    async def caller(index: int):
        nonlocal done, errors, first_error, in_flight, sent_lone
        turn = index
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            requests = routed["lone" if in_flight == 0 else "busy"]
            sent_lone += in_flight == 0
            in_flight += 1
            try:
                response = await infer(requests[turn % len(requests)], timeout=10.0)
                if len(response.raw_output_contents) != 2:
                    raise RuntimeError(f"expected 2 outputs, got {len(response.raw_output_contents)}")
                done += 1
                latencies.append(time.perf_counter() - start)
            except Exception as exc:  # counted, not fatal: the soak test reports them
                errors += 1
                first_error = first_error or str(exc)[:200]
            in_flight -= 1
            turn += clients

    began = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(clients)))
    elapsed = time.perf_counter() - began
    await channel.close()
    return {"clients": clients, "seconds": elapsed, "requests": done, "errors": errors,
            "throughput_rps": done / elapsed, "share_to_lone_model": sent_lone / max(done + errors, 1),
            **percentiles(latencies or [0.0]), "first_error": first_error}


def closed_loop(url: str, name: str, clients: int, seconds: float) -> dict:
    return asyncio.run(_closed_loop(url, name, clients, seconds))


def interleaved(url: str, names: tuple[str, ...], clients: int, seconds: float, rounds: int) -> dict[str, dict]:
    """Alternate short windows between models so that load from other processes on the
    machine hits every model alike; returns the pooled result per model."""
    pooled: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in names:
            pooled[name].append(closed_loop(url, name, clients, seconds / rounds))
    merged = {}
    for name, parts in pooled.items():
        elapsed, done = sum(p["seconds"] for p in parts), sum(p["requests"] for p in parts)
        merged[name] = {"clients": clients, "seconds": elapsed, "requests": done,
                        "errors": sum(p["errors"] for p in parts), "throughput_rps": done / elapsed,
                        "p99_ms": max(p["p99_ms"] for p in parts), "p50_ms": float(np.median([p["p50_ms"] for p in parts])),
                        "rounds_rps": [round(p["throughput_rps"]) for p in parts]}
    return merged


def batch_counts(url: str, name: str) -> dict[int, int]:
    """Executions per batch size of `name` so far (Triton's statistics API)."""
    from recaug.deploy.client import triton_client

    with triton_client(url) as client:
        stats = client.get_inference_statistics(name)["model_stats"][0]
    return {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats.get("batch_stats", [])}


def batches_between(before: dict[int, int], after: dict[int, int]) -> dict:
    """How the dynamic batcher grouped the requests between two batch_counts() snapshots."""
    executions = {size: count - before.get(size, 0) for size, count in after.items() if count > before.get(size, 0)}
    requests = sum(size * count for size, count in executions.items())
    return {"requests": requests, "executions": sum(executions.values()),
            "mean_batch": requests / max(sum(executions.values()), 1), "executions_by_batch_size": dict(sorted(executions.items()))}


def in_process(artifact: str, inputs: dict, repeats: int) -> dict:
    import onnxruntime as ort
    import torch

    from recaug.export.model import top_k_module
    from recaug.models.artifact import load_artifact

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(f"{artifact}/model.onnx", options, providers=["CPUExecutionProvider"])
    model, _, params = load_artifact(artifact)
    module = top_k_module(model, TOP_K, True, params["model"]["max_length"])
    torch.set_num_threads(1)
    tensors = [torch.from_numpy(inputs[k]) for k in ("history", "timestamps", "now")]

    def timed(call):
        for _ in range(10):
            call()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
        return percentiles(samples)

    def eager():
        with torch.inference_mode():
            module(*tensors)

    return {"onnxruntime": timed(lambda: session.run(None, inputs)), "torch_eager": timed(eager)}


def gateway_latency(settings, root: Path, artifact: str, repeats: int) -> dict:
    """Sequential /recommend calls to `recaug serve gateway` running in its own process:
    with the default item cache, with diversity re-ranking, and with the cache off."""
    from recaug.features.build import build_features
    from recaug.features.store import apply_definitions, materialize

    build_features(settings)
    apply_definitions(settings)
    materialize(settings)
    results = {}
    for label, params, overrides in (("k10", {"k": 10}, []), ("k10_mmr", {"k": 10, "diversity": 0.3}, []),
                                     ("k10_no_item_cache", {"k": 10}, ["deploy.gateway.item_cache_ttl_s=0"])):
        with running_gateway(settings, root, artifact, overrides) as port:
            results[label] = {**timed_gateway_calls(port, params, repeats), "load_average": os.getloadavg()}
    return results


@contextlib.contextmanager
def running_gateway(settings, root: Path, artifact: str, overrides: list[str]):
    """`recaug serve gateway` on a free port, settings from a params.yaml written for it."""
    import yaml

    from recaug.settings import to_params

    params = root / "gateway-params.yaml"
    gateway_settings = settings.model_copy(deep=True)
    gateway_settings.deploy.model_name = "bench_unbatched"
    params.write_text(yaml.safe_dump(to_params(gateway_settings)))
    args = ["--artifact", artifact, *(part for item in overrides for part in ("--set", item))]
    with gateway_process(params, root, args) as port:
        yield port


def timed_gateway_calls(port: int, params: dict, repeats: int) -> dict:
    """`repeats` users, one request each, after a warm-up over other users (half the
    population): the item cache then holds what a running gateway has seen, not the
    measured users' own answers."""
    import http.client
    import urllib.parse

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    warm_up = [f"user-{i}" for i in range(N_USERS // 2, N_USERS)]
    measured = [f"user-{i}" for i in range(min(repeats, N_USERS // 2))]
    samples, statuses, parts = [], {}, {}
    for position, user in enumerate(warm_up + measured):
        query = urllib.parse.urlencode({"user_id": user, **params})
        start = time.perf_counter()
        connection.request("GET", f"/recommend?{query}")
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - start
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if position >= len(warm_up):
            samples.append(elapsed)
            for entry in filter(None, (response.getheader("server-timing") or "").split(", ")):
                name, duration = entry.split(";dur=")
                parts.setdefault(name, []).append(float(duration))
    connection.close()
    breakdown = {name: float(np.median(values)) for name, values in parts.items()}
    return {**percentiles(samples), "statuses": statuses, "median_parts_ms": breakdown}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the 32-client soak run")
    parser.add_argument("--window", type=float, default=12.0, help="seconds per throughput measurement (split over --rounds)")
    parser.add_argument("--requests", type=int, default=400, help="sequential requests per latency measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternations between models per throughput window")
    parser.add_argument("--tuning-rounds", type=int, default=5, help="interleaved rounds of the batch-1 tuning part")
    parser.add_argument("--tuning-window", type=float, default=2.0, help="seconds per model and client count per round")
    parser.add_argument("--only-tuning", action="store_true", help="run the batch-1 tuning part only (quicker)")
    args = parser.parse_args()

    from recaug.deploy.server import LocalTritonServer
    from recaug.logs import configure_logging

    configure_logging()
    import torch

    torch.set_num_threads(2)
    results: dict = {"catalogue_items": N_ITEMS, "history_length": LENGTH, "top_k": TOP_K, "args": vars(args),
                     "cpu_count": os.cpu_count(), "load_average": {"start": os.getloadavg()}}
    load = results["load_average"]
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        settings = build_settings(Path(tmp))
        items = [f"sku-{i:05d}" for i in range(N_ITEMS)]
        write_marketplace(settings, items)
        artifact = export_model(settings, items)
        server = LocalTritonServer.from_settings(settings)
        state = server.start()
        try:
            deploy_as(settings, artifact, "bench_batched", batching=True)
            deploy_as(settings, artifact, "bench_unbatched", batching=False)
            deploy_as(settings, artifact, "bench_delay100", batching=True, queue_delay_us=100)
            deploy_as(settings, artifact, "bench_adaptive", batching=True, queue_delay_us=0)
            load["tuning"] = os.getloadavg()
            results["tuning"] = tuning_rounds(state, args.tuning_rounds, args.requests, args.tuning_window)
            print_tuning(results["tuning"])
            if args.only_tuning:
                return write_results(results, "serving_tuning.json")
            load["latency"] = os.getloadavg()
            latency = {}
            for batch in (1, 32):
                inputs = requests_batch(batch, seed=batch)
                latency[f"triton_http_b{batch}"] = http_latency(state.http_url, "bench_unbatched", inputs, args.requests)
                latency[f"triton_grpc_b{batch}"] = grpc_latency(state.grpc_url, "bench_unbatched", inputs, args.requests)
                for kind, value in in_process(artifact, inputs, args.requests).items():
                    latency[f"{kind}_b{batch}"] = value
            results["latency"] = latency
            load["throughput"] = os.getloadavg()
            throughput, batches = {}, {}
            for clients in (1, 8, 32):
                before = batch_counts(state.http_url, "bench_batched")
                pair = interleaved(state.grpc_url, ("bench_unbatched", "bench_batched"), clients, args.window, args.rounds)
                batches[f"c{clients}"] = batches_between(before, batch_counts(state.http_url, "bench_batched"))
                for name, result in pair.items():
                    throughput[f"{name}_c{clients}"] = result
                    logging.info("%s with %d clients: %.0f req/s", name, clients, result["throughput_rps"])
            results["throughput"] = throughput
            results["dynamic_batches"] = batches
            load["gateway"] = os.getloadavg()
            results["gateway"] = gateway_latency(settings, Path(tmp), artifact, args.requests)
            load["soak"] = os.getloadavg()
            results["soak"] = closed_loop(state.grpc_url, "bench_batched", 32, args.duration)
        finally:
            server.stop()

    speedup = throughput["bench_batched_c32"]["throughput_rps"] / throughput["bench_unbatched_c32"]["throughput_rps"]
    results["checks"] = {
        "triton_http_p99_ms_batch1": {"value": latency["triton_http_b1"]["p99_ms"],
                                      "target": TARGETS["triton_http_p99_ms_batch1"], "pass": None},
        "batching_speedup_32_clients": {"value": speedup, "target": TARGETS["batching_speedup_32_clients"], "pass": None},
        "gateway_p99_ms": {"value": results["gateway"]["k10"]["p99_ms"], "target": TARGETS["gateway_p99_ms"],
                           "pass": None},
        "soak_errors": {"value": results["soak"]["errors"], "target": 0, "pass": results["soak"]["errors"] == 0},
    }
    for key in ("triton_http_p99_ms_batch1", "gateway_p99_ms"):
        results["checks"][key]["pass"] = results["checks"][key]["value"] <= results["checks"][key]["target"]
    results["checks"]["batching_speedup_32_clients"]["pass"] = speedup >= TARGETS["batching_speedup_32_clients"]

    print("\n| path | batch | p50 ms | p99 ms | vs ORT in-process (p50) |")
    print("|---|---:|---:|---:|---:|")
    for batch in (1, 32):
        base = latency[f"onnxruntime_b{batch}"]["p50_ms"]
        for kind in ("onnxruntime", "torch_eager", "triton_http", "triton_grpc"):
            row = latency[f"{kind}_b{batch}"]
            print(f"| {kind} | {batch} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} | {row['p50_ms'] / base:.1f}x |")
    for label, row in results["gateway"].items():
        print(f"| gateway /recommend {label} | 1 | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} | "
              f"{row['p50_ms'] / latency['onnxruntime_b1']['p50_ms']:.1f}x |")
    for label, row in results["gateway"].items():
        parts = ", ".join(f"{name} {value:.2f} ms" for name, value in row["median_parts_ms"].items())
        print(f"\ngateway {label} median time per dependency: {parts} (rest: HTTP, FastAPI, re-ranking)")
    print("\n| clients | no batching req/s | dynamic batching req/s | ratio | per window (no / dyn) | p99 ms (batched) "
          "| mean batch |")
    print("|---:|---:|---:|---:|---|---:|---:|")
    for clients in (1, 8, 32):
        plain, batched = throughput[f"bench_unbatched_c{clients}"], throughput[f"bench_batched_c{clients}"]
        windows = " ".join(f"{a}/{b}" for a, b in zip(plain["rounds_rps"], batched["rounds_rps"]))
        print(f"| {clients} | {plain['throughput_rps']:.0f} | {batched['throughput_rps']:.0f} | "
              f"{batched['throughput_rps'] / plain['throughput_rps']:.2f}x | {windows} | {batched['p99_ms']:.2f} | "
              f"{results['dynamic_batches'][f'c{clients}']['mean_batch']:.1f} |")
    soak = results["soak"]
    print(f"\nsoak: {soak['clients']} clients for {soak['seconds']:.0f} s: {soak['requests']} requests, "
          f"{soak['errors']} errors, {soak['throughput_rps']:.0f} req/s, p99 {soak['p99_ms']:.2f} ms")
    print("\n| check | value | target | pass |")
    print("|---|---:|---:|---|")
    for key, check in results["checks"].items():
        print(f"| {key} | {check['value']:.3f} | {check['target']} | {check['pass']} |")

    print_tuning(results["tuning"])
    return write_results(results, "serving.json")


def write_results(results: dict, filename: str) -> int:
    results["load_average"]["end"] = os.getloadavg()
    out = ROOT / "bench" / "results" / filename
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    loads = ", ".join(f"{stage} {value[0]:.1f}" for stage, value in results["load_average"].items())
    print(f"\n1-minute load average at the start of each part: {loads} on {results['cpu_count']} CPUs "
          "(other processes on the machine inflate every number above; absolute p99 needs a quiet machine)")
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
