"""Text-embedding throughput: recaug's embed path vs plain SentenceTransformer.encode.

The same N item texts (MovieLens latest-small titles + genres, read from ../shared and
never copied; synthetic catalogue texts when it is absent) go through, in one process,
with the same thread count for every contender:
- baseline: `SentenceTransformer(path).encode(texts, batch_size=64)` (torch, fp32);
- recaug default: the `auto` backend, after its calibration check: on a CPU that computes
  bf16 natively (AVX512-BF16/AMX) the torch model in bf16 with length-sorted batches,
  elsewhere the ONNX graph below;
- plain SentenceTransformer.encode on the same bf16 weights (when the default is 16-bit):
  what a user gets by casting the model themselves, without our batching or check;
- recaug onnx fp32: the `onnx` backend (attention, layer norms and GELU fused by
  onnxruntime's transformer optimizer; length-sorted batches padded to their longest
  text, encoded side by side on one worker per thread);
- recaug onnx int8: the same export with 8-bit block-quantised weights;
- recaug cache hit: a rerun that finds every text in the content-hash cache.
Contenders run in interleaved rounds (baseline, recaug, ..., baseline, recaug, ...) so a
change in machine load hits all of them; items/s is the median over rounds, and the
best round is shown too (closest to an idle machine). Quality is
the minimum per-text cosine to the baseline's vectors. The one-off export/quantise/check
time is reported separately (it happens once per model and machine).

Prints a Markdown table and writes bench/results/embed.json.
Options (env): BENCH_EMBED_TEXTS (default 5000), BENCH_EMBED_ROUNDS (2),
BENCH_EMBED_THREADS (2), BENCH_EMBED_BATCH (64), BENCH_MOVIELENS (dataset folder).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("BENCH_MOVIELENS", ROOT.parent / "shared" / "datasets" / "ml-latest-small"))
N_TEXTS = int(os.environ.get("BENCH_EMBED_TEXTS", "5000"))
ROUNDS = int(os.environ.get("BENCH_EMBED_ROUNDS", "2"))
THREADS = int(os.environ.get("BENCH_EMBED_THREADS", "2"))
BATCH = int(os.environ.get("BENCH_EMBED_BATCH", "64"))
TARGET_RATIO, TARGET_COSINE = 2.0, 0.99


def item_texts(n: int) -> tuple[list[str], str]:
    from recaug.embed.texts import item_text

    if (DATA / "movies.csv").is_file():
        import pandas as pd

        movies = pd.read_csv(DATA / "movies.csv").head(n)
        genres = movies["genres"].replace("(no genres listed)", "")
        return [item_text(t, categories=g) for t, g in zip(movies["title"], genres)], f"MovieLens {DATA.name}"
    import numpy as np

    rng = np.random.default_rng(0)
    nouns = ["lamp", "jacket", "novel", "headphones", "kettle", "backpack", "puzzle", "sneakers", "mug", "drone"]
    adjectives = ["vintage", "wireless", "organic", "compact", "waterproof", "handmade", "premium", "kids'"]
    cats = ["Home", "Outdoor", "Books", "Electronics", "Kitchen", "Toys", "Fashion"]
    texts = [
        item_text(f"{rng.choice(adjectives)} {rng.choice(nouns)} model {i}",
                  categories="|".join(rng.choice(cats, 2, replace=False)))
        for i in range(n)
    ]
    return texts, "synthetic catalogue"


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch

    from recaug.embed.cache import EmbeddingCache, cache_key
    from recaug.embed.calibration import row_cosines
    from recaug.embed.config import AutoEncoderConfig, OnnxEncoderConfig
    from recaug.embed.encoder import create_encoder
    from recaug.embed.model_files import resolve_model_path
    from recaug.logs import configure_logging

    configure_logging()
    torch.set_num_threads(THREADS)
    texts, source = item_texts(N_TEXTS)
    load_avg = os.getloadavg()

    from sentence_transformers import SentenceTransformer

    baseline_model = SentenceTransformer(str(resolve_model_path(None)), device="cpu")
    started = time.perf_counter()
    default = create_encoder(AutoEncoderConfig(threads=THREADS))
    prepare_seconds = time.perf_counter() - started
    onnx = create_encoder(OnnxEncoderConfig(threads=THREADS))
    int8 = create_encoder(OnnxEncoderConfig(threads=THREADS, quantization="blockwise_int8"))

    def variant(encoder) -> str:
        return f"{encoder.backend}, {encoder.version.split('-', 1)[1]}"

    contenders = {
        "SentenceTransformer.encode (baseline)": lambda batch: baseline_model.encode(batch, batch_size=BATCH),
        f"recaug embed default ({variant(default)})": lambda batch: default.encode(batch, batch_size=BATCH),
    }
    if getattr(default, "precision", "fp32") != "fp32":
        cast_model = SentenceTransformer(str(resolve_model_path(None)), device="cpu").to(default.model.dtype)
        contenders[f"SentenceTransformer.encode, same {default.precision} weights"] = (
            lambda batch: cast_model.encode(batch, batch_size=BATCH))
    contenders[f"recaug {variant(onnx)}"] = lambda batch: onnx.encode(batch, batch_size=BATCH)
    contenders[f"recaug {variant(int8)}"] = lambda batch: int8.encode(batch, batch_size=BATCH)
    for run in contenders.values():  # warm-up: first-call allocations and lazy init are not throughput
        run(texts[:64])

    speeds: dict[str, list[float]] = {name: [] for name in contenders}
    outputs: dict[str, np.ndarray] = {}
    for round_ in range(ROUNDS):
        for name, run in contenders.items():
            t0 = time.perf_counter()
            outputs[name] = np.asarray(run(texts), dtype=np.float32)
            speeds[name].append(len(texts) / (time.perf_counter() - t0))
            print(f"round {round_ + 1}/{ROUNDS} {name}: {speeds[name][-1]:.0f} texts/s", file=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(tmp, default.name, default.version, default.dim)
        default_name = list(contenders)[1]
        keys = [cache_key(t, default.name, default.version) for t in texts]
        cache.put_many(keys, outputs[default_name])
        t0 = time.perf_counter()
        hits = cache.get_many([cache_key(t, default.name, default.version) for t in texts])
        cache_speed = len(texts) / (time.perf_counter() - t0)
        assert len(hits) == len(set(keys))

    baseline_name = list(contenders)[0]
    baseline_vectors = outputs[baseline_name]
    base_speed = statistics.median(speeds[baseline_name])
    rows = []
    for name in contenders:
        speed = statistics.median(speeds[name])
        cos = row_cosines(outputs[name], baseline_vectors)
        rows.append({"contender": name, "texts_per_s": round(speed, 1), "ratio": round(speed / base_speed, 2),
                     "best_ratio": round(max(speeds[name]) / max(speeds[baseline_name]), 2),
                     "min_cosine": round(float(cos.min()), 5), "mean_cosine": round(float(cos.mean()), 6),
                     "rounds": [round(s, 1) for s in speeds[name]]})
    rows.append({"contender": "recaug cache hit (rerun, zero encodings)", "texts_per_s": round(cache_speed, 1),
                 "ratio": round(cache_speed / base_speed, 2),
                 "best_ratio": round(cache_speed / max(speeds[baseline_name]), 2), "min_cosine": rows[1]["min_cosine"],
                 "mean_cosine": rows[1]["mean_cosine"], "rounds": [round(cache_speed, 1)]})

    default_row = rows[1]
    verdict = default_row["ratio"] >= TARGET_RATIO and default_row["min_cosine"] >= TARGET_COSINE
    print(f"\n### Embedding throughput: {len(texts)} item texts ({source}), {THREADS} threads, batch {BATCH}\n")
    print("| contender | texts/s (median) | vs baseline | best rounds vs baseline | min cosine to baseline "
          "| mean cosine |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['contender']} | {row['texts_per_s']:.0f} | {row['ratio']:.2f}x | {row['best_ratio']:.2f}x "
              f"| {row['min_cosine']:.4f} | {row['mean_cosine']:.5f} |")
    print(f"\nOne-off load + calibration check of the default (ONNX exports are cached afterwards): "
          f"{prepare_seconds:.1f} s. "
          f"Load average at start: {load_avg[0]:.1f} on {os.cpu_count()} cores.")
    print(f"Target (ratio >= {TARGET_RATIO}, min cosine >= {TARGET_COSINE}, no cache hits): "
          f"{'met' if verdict else 'NOT met'} ({default_row['ratio']:.2f}x, {default_row['min_cosine']:.4f}).")

    result = {
        "texts": len(texts), "source": source, "threads": THREADS, "batch_size": BATCH, "rounds": ROUNDS,
        "encoder": default.name, "encoder_version": default.version, "backend": default.backend,
        "prepare_seconds_one_off": round(prepare_seconds, 2), "load_average_at_start": [round(x, 2) for x in load_avg],
        "cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
        "rows": rows, "target": {"ratio": TARGET_RATIO, "min_cosine": TARGET_COSINE, "met": verdict},
    }
    out = ROOT / "bench" / "results" / "embed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
