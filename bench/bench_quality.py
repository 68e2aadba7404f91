"""Quality benchmark: FusionSASRec vs baselines and ablations on one dataset, same split.

Protocol (docs/FACTS): every rating is implicit feedback; each user's events sorted by
time, ties in file order; leave-one-out (last event test, the one before validation);
full ranking over every item with at least one rating, the user's history masked.
Neural models are averaged over seeds (mean ± sample std); baselines are deterministic.

    .venv/bin/python bench/bench_quality.py [--dataset DIR] [--format ml-latest] [--seeds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recaug import io  # noqa: E402
from recaug.logs import configure_logging  # noqa: E402

log = logging.getLogger("bench_quality")
RESULTS = ROOT / "bench" / "results"
FORMAT_ALIASES = {"movielens-latest": "ml-latest"}
COLUMNS = ["hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr@10", "coverage@10", "diversity@10", "novelty@10"]

# name -> (model type, ModelConfig overrides, uses augmented data)
NEURAL = {
    "FusionSASRec (ours)": ("fusion_sasrec", {}, True),
    "ablation: ID-only items": ("fusion_sasrec", {"use_text": False, "use_attributes": False}, True),
    "ablation: no time": ("fusion_sasrec", {"use_time": False}, True),
    "ablation: no augmentation": ("fusion_sasrec", {}, False),
    "SASRec (ID-only, no time)": ("fusion_sasrec", {"use_text": False, "use_attributes": False, "use_time": False}, True),
    "GRU4Rec": ("gru4rec", {"num_layers": 1}, True),
}


def item_text(items: pd.DataFrame) -> list[str]:
    """The text the encoder reads per item: title, genres and user tags."""
    texts = []
    for title, categories, tags in zip(items["title"], items["categories"], items.get("tags", [None] * len(items))):
        parts = [str(title)]
        if isinstance(categories, str) and categories:
            parts.append("Genres: " + ", ".join(categories.split("|")))
        if isinstance(tags, str) and tags:
            parts.append("Tags: " + ", ".join(tags.split("|")[:10]))
        texts.append(". ".join(parts))
    return texts


def item_embeddings(items: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """MiniLM embeddings via recaug.embed.encode_texts, cached by the hash of the texts."""
    texts = item_text(items)
    key = io.content_hash(*texts)[:16]
    cache = RESULTS / "cache" / f"item_embeddings_{key}.parquet"
    info = {"texts": len(texts), "cache": str(cache.relative_to(ROOT))}
    if cache.exists():
        frame = pd.read_parquet(cache)
        info["seconds"] = 0.0
        return frame, {**info, "cached": True}
    from recaug.embed.config import EmbedConfig
    from recaug.embed.encoder import encode_texts

    started = time.perf_counter()
    vectors = encode_texts(texts, EmbedConfig())
    info["seconds"] = time.perf_counter() - started
    frame = pd.DataFrame({"item_id": items["item_id"].to_numpy(), "embedding": list(vectors.astype(np.float32))})
    io.write_parquet(frame, str(cache))
    return frame, {**info, "cached": False, "dim": int(vectors.shape[1])}


def flatten(result: dict) -> dict[str, float]:
    row = {k: v for k, v in result["overall"].items() if k in COLUMNS}
    row["cold hr@10"] = result["cold_items"].get("hr@10")
    row["cold ndcg@10"] = result["cold_items"].get("ndcg@10")
    return row


def aggregate(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    from recaug.train.metrics import mean_and_spread

    keys = sorted({k for run in runs for k, v in run.items() if isinstance(v, (int, float))})
    return {k: dict(zip(("mean", "std"), mean_and_spread([r[k] for r in runs if r.get(k) is not None]))) for k in keys}


def build_report(results: dict, context: dict, complete: bool):
    """The JSON report, the Markdown table, the ratios to quote and the target checks."""
    from recaug.train.evaluate import markdown_table

    table_rows = {}
    for name, result in results.items():
        if "skipped" in result:
            table_rows[name] = {"note": result["skipped"]}
            continue
        summary = result["summary"]
        row = {}
        for key in [*COLUMNS, "cold hr@10", "cold ndcg@10", "train_seconds", "epochs"]:
            if key in summary:
                mean, std = summary[key]["mean"], summary[key]["std"]
                row[key] = f"{mean:.4f}" + (f" ± {std:.4f}" if len(result["runs"]) > 1 else "") if key not in (
                    "train_seconds", "epochs") else f"{mean:.0f}"
        table_rows[name] = row
    columns = [*COLUMNS, "cold hr@10", "cold ndcg@10", "train_seconds", "epochs", "note"]
    table = markdown_table(table_rows, columns)

    def mean(name: str, key: str) -> float | None:
        summary = results.get(name, {}).get("summary", {})
        return summary.get(key, {}).get("mean")

    ours = "FusionSASRec (ours)"
    comparisons = {}
    for label, other, key in (
        ("ours / ID-only ablation, NDCG@10", "ablation: ID-only items", "ndcg@10"),
        ("ours / plain SASRec, NDCG@10", "SASRec (ID-only, no time)", "ndcg@10"),
        ("ours / no-time ablation, NDCG@10", "ablation: no time", "ndcg@10"),
        ("ours / GRU4Rec, NDCG@10", "GRU4Rec", "ndcg@10"),
        ("ours / ItemKNN, NDCG@10", "ItemKNN (cosine)", "ndcg@10"),
        ("ours / text similarity, cold-item HR@10", "Text similarity (MiniLM)", "cold hr@10"),
    ):
        a, b = mean(ours, key), mean(other, key)
        if a is not None and b:
            comparisons[label] = a / b
    targets = {
        "ours NDCG@10 >= 0.061": (mean(ours, "ndcg@10") or 0) >= 0.061,
        "ours >= 1.05 x ID-only NDCG@10": comparisons.get("ours / ID-only ablation, NDCG@10", 0) >= 1.05,
        "ours cold-item Recall@10 >= 0.034": (mean(ours, "cold hr@10") or 0) >= 0.034,
        "ours training < 600 s": (mean(ours, "train_seconds") or 1e9) < 600,
    }
    report = {
        **{k: v for k, v in context.items() if k != "started"}, "complete": complete, "results": results,
        "ratios": comparisons, "targets": targets,
        "machine": {**context["machine"], "load_average_end": os.getloadavg()},
        "total_seconds": time.perf_counter() - context["started"],
    }
    return report, table, comparisons, targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="/work/shared/datasets/ml-latest-small")
    parser.add_argument("--format", default="ml-latest", help="a recaug.data loader format (movielens-latest = ml-latest)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per neural model")
    parser.add_argument("--quick", action="store_true", help="1 seed, at most 15 epochs, only ours + ID-only + SASRec")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--models", default=None, help="comma-separated subset of neural model names (substring match)")
    parser.add_argument("--augmented", default=None, help="parquet of augmented interactions (canonical schema)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="model.KEY=V or train.KEY=V override (repeatable)")
    parser.add_argument("--out", default=str(RESULTS / "quality.json"))
    args = parser.parse_args(argv)
    configure_logging()

    import torch

    from recaug.data.loaders import load_dataset
    from recaug.models.artifact import build_model
    from recaug.models.item_knn import ItemKNN
    from recaug.models.most_pop import MostPop
    from recaug.models.text_similarity import TextSimilarity
    from recaug.models.config import ModelConfig
    from recaug.settings import parse_overrides
    from recaug.train.config import TrainConfig
    from recaug.train.dataset import build_sequences
    from recaug.train.evaluate import evaluate_recommender
    from recaug.train.loop import fit, seed_everything

    torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.overrides)
    model_base = ModelConfig(**overrides.get("model", {}))
    train_config = TrainConfig(num_threads=args.threads, **overrides.get("train", {}))
    seeds = 1 if args.quick else args.seeds
    if args.epochs or args.quick:
        train_config = train_config.model_copy(update={"epochs": args.epochs or min(train_config.epochs, 15)})
    load_start = os.getloadavg()

    started = time.perf_counter()
    dataset = load_dataset(FORMAT_ALIASES.get(args.format, args.format), args.dataset)
    items = dataset.items[dataset.items["item_id"].isin(dataset.interactions["item_id"])].reset_index(drop=True)
    embeddings, embed_info = item_embeddings(items)
    augmented = pd.read_parquet(args.augmented) if args.augmented else None
    data = build_sequences(dataset.interactions, items, embeddings, augmented,
                           max_categories=model_base.max_categories, price_buckets=model_base.price_buckets)
    log.info("data ready in %.1fs: %s", time.perf_counter() - started, data.summary())

    results: dict[str, dict] = {}
    context = {
        "dataset": args.dataset, "format": args.format, "protocol": "leave-one-out, full ranking, history masked",
        "data": data.summary(), "cold_item_cases": int((data.train_counts[data.test.targets] < 5).sum()),
        "embeddings": embed_info, "seeds": seeds, "train": train_config.model_dump(mode="json"),
        "model": model_base.model_dump(mode="json"),
        "machine": {"cpus": os.cpu_count(), "torch_threads": args.threads, "platform": platform.platform(),
                    "load_average_start": load_start},
        "started": started,
    }
    for name, recommender in (("MostPop", MostPop.fit(data)), ("ItemKNN (cosine)", ItemKNN.fit(data)),
                              ("Text similarity (MiniLM)", TextSimilarity.fit(data))):
        t0 = time.perf_counter()
        run = flatten(evaluate_recommender(recommender, data.test, data, train_config, model_base.max_length))
        results[name] = {"runs": [run], "summary": aggregate([run]), "seconds": time.perf_counter() - t0}
        log.info("%s: ndcg@10 %.4f hr@10 %.4f cold hr@10 %.4f", name, run["ndcg@10"], run["hr@10"], run["cold hr@10"])

    chosen = dict(NEURAL)
    if args.quick:
        chosen = {k: v for k, v in NEURAL.items() if k.startswith(("FusionSASRec", "ablation: ID-only", "SASRec"))}
    if args.models:
        wanted = [w.strip().lower() for w in args.models.split(",")]
        chosen = {k: v for k, v in NEURAL.items() if any(w in k.lower() for w in wanted)}
    has_augmented = bool(data.augmented)
    for name, (model_type, model_overrides, with_augmented) in chosen.items():
        if name == "ablation: no augmentation" and not has_augmented:
            results[name] = {"skipped": "the dataset has no augmented interactions (pass --augmented)"}
            continue
        config = model_base.model_copy(update=model_overrides)
        runs = []
        for seed in range(seeds):
            seed_config = train_config.model_copy(update={"seed": train_config.seed + seed,
                                                          "use_augmented": with_augmented})
            seed_everything(seed_config.seed)
            model = build_model(model_type, config, data.num_items, data.item_features())
            fitted = fit(model, data, seed_config)
            run = flatten(evaluate_recommender(model, data.test, data, seed_config, config.max_length))
            run.update(train_seconds=fitted.seconds, epochs=len(fitted.history), best_epoch=fitted.best_epoch,
                       seconds_per_epoch=fitted.seconds / max(len(fitted.history), 1))
            runs.append(run)
            log.info("%s seed %d: ndcg@10 %.4f hr@10 %.4f cold hr@10 %.4f (%d epochs, %.0fs)", name, seed_config.seed,
                     run["ndcg@10"], run["hr@10"], run["cold hr@10"], run["epochs"], run["train_seconds"])
        results[name] = {"runs": runs, "summary": aggregate(runs), "model": config.model_dump(mode="json")}
        io.write_json(args.out, build_report(results, context, complete=False)[0])  # partial results survive a stop

    report, table, comparisons, targets = build_report(results, context, complete=True)
    io.write_json(args.out, report)
    print(f"\n## Quality on {Path(args.dataset).name} ({data.summary()['users']} users, {data.num_items} items, "
          f"{report['cold_item_cases']} cold-item test cases, {seeds} seed(s))\n")
    print(table)
    print("\n| comparison | ratio |\n|---|---|")
    for label, ratio in comparisons.items():
        print(f"| {label} | {ratio:.3f} |")
    print("\n| target | met |\n|---|---|")
    for label, met in targets.items():
        print(f"| {label} | {'yes' if met else 'NO'} |")
    print(f"\nload average start {load_start[0]:.1f}, end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
