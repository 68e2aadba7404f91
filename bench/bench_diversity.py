"""Diversity benchmark: what the gateway's MMR weight costs in accuracy and buys in variety.

FusionSASRec is trained once on ml-latest-small (the bench_quality protocol: leave-one-out,
full ranking, history masked; item texts embedded with MiniLM; template-augmented
interactions), then recaug.train.diversity re-ranks each case's top candidates exactly as
the gateway does (recaug.models.mmr over the item text embeddings) for every weight, on
the validation and the test cases: NDCG/Recall@10, intra-list diversity (1 - mean pairwise
cosine of the list's text embeddings) and catalogue coverage. The default weight is chosen
on validation (largest within `train.mmr_max_ndcg_loss` of weight 0's NDCG@10). The
one-line alternative in the same run: ten random items of the same candidates.

    .venv/bin/python bench/bench_diversity.py [--dataset DIR] [--epochs N] [--weights 0,0.1,...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_quality import FORMAT_ALIASES, augment_fitted, item_embeddings  # noqa: E402

from recaug import io  # noqa: E402
from recaug.logs import configure_logging  # noqa: E402

log = logging.getLogger("bench_diversity")
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "ml-latest-small"  # ../shared from the project root
COLUMNS = ["ndcg@10", "recall@10", "diversity@10", "coverage@10"]


def trained_model(data, model_config, train_config):
    """FusionSASRec fitted on `data`; weights cached under bench/results/cache by data and settings."""
    import torch

    from recaug.models.artifact import build_model
    from recaug.train.loop import fit, seed_everything

    not_training = {"num_threads", "eval_batch_size", "ks", "mmr_weights", "mmr_max_ndcg_loss", "gate_metric",
                     "gate_tolerance", "gate_min_coverage", "gate_min_diversity"}  # these do not change the weights
    key = hashlib.sha256(json.dumps([data.summary(), model_config.model_dump(mode="json"),
                                     train_config.model_dump(mode="json", exclude=not_training)],
                                    sort_keys=True, default=str).encode()).hexdigest()[:16]
    cache = RESULTS / "cache" / f"diversity_model_{key}.pt"
    seed_everything(train_config.seed)
    model = build_model("fusion_sasrec", model_config, data.num_items, data.item_features())
    if cache.exists():
        state = torch.load(cache, weights_only=True)
        model.load_state_dict(state["model"])
        log.info("model loaded from %s (trained in %.0f s)", cache, state["seconds"])
        return model.eval(), {"cache": str(cache.relative_to(ROOT)), "cached": True, "train_seconds": state["seconds"]}
    fitted = fit(model, data, train_config)
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "seconds": fitted.seconds}, temporary)
    os.replace(temporary, cache)
    return model.eval(), {"cache": str(cache.relative_to(ROOT)), "cached": False, "train_seconds": fitted.seconds,
                          "epochs": len(fitted.history), "best_epoch": fitted.best_epoch}


def random_pick(pool_ids: np.ndarray, pool_scores: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The one-line alternative: k random items of each case's candidates, in model order."""
    rng = np.random.default_rng(seed)
    lists = np.zeros((len(pool_ids), k), dtype=np.int64)
    for row, (ids, scores) in enumerate(zip(pool_ids, pool_scores)):
        real = np.flatnonzero(np.isfinite(scores))
        lists[row, : min(k, len(real))] = ids[np.sort(rng.choice(real, min(k, len(real)), replace=False))]
    return lists


def table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| re-ranking | " + " | ".join(COLUMNS) + " | NDCG vs weight 0 |", "|---|" + "---:|" * (len(COLUMNS) + 1)]
    base = next(iter(rows.values()))["ndcg@10"]
    for name, row in rows.items():
        change = f"{100 * (row['ndcg@10'] / base - 1):+.1f}%" if base else "-"
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.4f}" for c in COLUMNS) + f" | {change} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET))
    parser.add_argument("--format", default="ml-latest")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--weights", default=None, help="comma-separated MMR weights (default: train.mmr_weights)")
    parser.add_argument("--candidates", type=int, default=None,
                        help="candidates re-ranked (default: what the gateway re-ranks, export.top_k)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(RESULTS / "diversity.json"))
    args = parser.parse_args(argv)
    configure_logging()

    import torch

    from recaug.data.loaders import load_dataset
    from recaug.models.config import ModelConfig
    from recaug.settings import load_settings
    from recaug.train.config import TrainConfig
    from recaug.train.dataset import build_sequences
    from recaug.train.diversity import candidate_pools, candidates_served, list_metrics, mmr_curve

    if not Path(args.dataset).exists():
        raise SystemExit(f"{args.dataset} does not exist: pass --dataset (ml-latest-small lives in ../shared/datasets)")
    torch.set_num_threads(args.threads)
    started, load_start = time.perf_counter(), os.getloadavg()
    update = {"num_threads": args.threads, "seed": args.seed}
    if args.epochs:
        update["epochs"] = args.epochs
    if args.weights:
        update["mmr_weights"] = [float(w) for w in args.weights.split(",")]
    train_config = TrainConfig().model_copy(update=update)
    model_config = ModelConfig()
    candidates = args.candidates or candidates_served(load_settings())

    dataset = load_dataset(FORMAT_ALIASES.get(args.format, args.format), args.dataset)
    items = dataset.items[dataset.items["item_id"].isin(dataset.interactions["item_id"])].reset_index(drop=True)
    embeddings, embed_info = item_embeddings(items)
    augmented, augment_info = augment_fitted(dataset, items, 40)
    data = build_sequences(dataset.interactions, items, embeddings, augmented,
                           max_categories=model_config.max_categories, price_buckets=model_config.price_buckets)
    model, model_info = trained_model(data, model_config, train_config)

    curve_started = time.perf_counter()
    curve = mmr_curve(model, data, train_config, model_config.max_length, candidates)
    curve_seconds = time.perf_counter() - curve_started
    k = curve["k"]
    alternatives = {}
    for split, cases in (("valid", data.valid), ("test", data.test)):
        ids, scores = candidate_pools(model, cases, train_config, model_config.max_length, curve["candidates"])
        alternatives[split] = list_metrics(random_pick(ids, scores, k, args.seed), cases.targets, data.text,
                                           data.num_items)
    chosen = curve["chosen_weight"]
    rows = {split: {**{f"MMR {row['weight']:g}" + (" (chosen)" if row["weight"] == chosen else ""): row
                       for row in curve[split]},
                    f"random {k} of {curve['candidates']} (one-liner)": alternatives[split]}
            for split in ("valid", "test")}
    test_chosen = next(row for row in curve["test"] if row["weight"] == chosen)
    test_plain, test_random = curve["test"][0], alternatives["test"]
    ratios = {
        f"chosen MMR {chosen:g} / weight 0, test NDCG@10": test_chosen["ndcg@10"] / test_plain["ndcg@10"],
        f"chosen MMR {chosen:g} / weight 0, test diversity@10": test_chosen["diversity@10"] / test_plain["diversity@10"],
        f"chosen MMR {chosen:g} / weight 0, test coverage@10": test_chosen["coverage@10"] / test_plain["coverage@10"],
        f"chosen MMR {chosen:g} / random pick, test NDCG@10": test_chosen["ndcg@10"] / test_random["ndcg@10"],
        f"chosen MMR {chosen:g} / random pick, test diversity@10": test_chosen["diversity@10"] / test_random["diversity@10"],
        f"chosen MMR {chosen:g} / random pick, test coverage@10": test_chosen["coverage@10"] / test_random["coverage@10"],
    }
    report = {
        "dataset": args.dataset, "protocol": "leave-one-out, full ranking, history masked; MMR over the top "
        f"{curve['candidates']} candidates, as the gateway", "data": data.summary(), "embeddings": embed_info,
        "augmentation": augment_info, "model": model_info, "train": train_config.model_dump(mode="json"),
        "mmr": curve, "random_pick": alternatives, "ratios": ratios, "curve_seconds": curve_seconds,
        "machine": {"cpus": os.cpu_count(), "torch_threads": args.threads, "platform": platform.platform(),
                    "load_average_start": load_start, "load_average_end": os.getloadavg()},
        "total_seconds": time.perf_counter() - started,
    }
    io.write_json(args.out, report)
    print(f"\n## MMR trade-off on {Path(args.dataset).name} ({data.num_items} items; top-{k} re-ranked from "
          f"{curve['candidates']} candidates; default chosen on validation within "
          f"{100 * curve['max_ndcg_loss']:g}% of weight 0's NDCG@{k}: {chosen:g})")
    for split, name in (("valid", "validation"), ("test", "test")):
        print(f"\n### {name} ({len(data.valid if split == 'valid' else data.test)} cases)\n")
        print(table(rows[split]))
    print("\n| comparison | ratio |\n|---|---|")
    for label, ratio in ratios.items():
        print(f"| {label} | {ratio:.3f} |")
    print(f"\ncurve of {len(curve['weights'])} weights x 2 splits in {curve_seconds:.1f} s; load average "
          f"{load_start[0]:.1f} -> {report['machine']['load_average_end'][0]:.1f} on {os.cpu_count()} CPUs; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
