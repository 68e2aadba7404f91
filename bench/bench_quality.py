"""Quality benchmark: FusionSASRec vs baselines and ablations on one dataset, same split.

Protocol (docs/FACTS): every rating is implicit feedback; each user's events sorted by
time, ties in file order; leave-one-out (last event test, the one before validation);
full ranking over every item with at least one rating, the user's history masked.
Neural models are averaged over seeds (mean ± sample std); baselines are deterministic.
Every neural model trains until validation NDCG@10 stops improving (recaug.train.stopping; the
epoch cap is a limit, and a run still improving at it is flagged in the table); the neural
baselines (plain SASRec, GRU4Rec) are first tuned by their own small validation search (SEARCH:
grid, candidates and winner recorded in the JSON), so ratios are quoted against tuned rows.
Augmented interactions for the augmentation ablation come from recaug.augment (template
backend, co-occurrence retriever) run on the fitted events only.

    .venv/bin/python bench/bench_quality.py [--dataset DIR|NAME] [--format FMT] [--seeds 3] [--quick]
    # --dataset defaults to ../shared/datasets/ml-latest-small beside the repository root; a bare name
    # (ml-1m, amazon-beauty) is looked up there, and the format follows from the name
    # split models over processes, then pool them into one report:
    .venv/bin/python bench/bench_quality.py --models "ours" --out /tmp/a.json
    .venv/bin/python bench/bench_quality.py --models "ID-only" --out /tmp/b.json
    .venv/bin/python bench/bench_quality.py --merge /tmp/a.json /tmp/b.json
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
# the repository lives at <root>/main (or a worktree beside it) and the shared data at <root>/shared
DATASETS = ROOT.parent / "shared" / "datasets"
FORMAT_ALIASES = {"movielens-latest": "ml-latest"}
# wall time depends on the machine's load (a shared 2-core host); CPU seconds of training do much less
TIMING = ["wall_seconds", "train_cpu_seconds", "s/epoch", "epochs", "best_epoch"]
COLUMNS = ["hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr@10", "coverage@10", "diversity@10", "novelty@10"]

# name -> (model type, ModelConfig overrides, TrainConfig overrides, uses augmented data). Every neural model
# trains under the same budget rule (recaug.train.stopping: validation progress, the epoch cap as a limit).
NEURAL = {
    "FusionSASRec (ours)": ("fusion_sasrec", {}, {}, True),
    "ablation: ID-only items": ("fusion_sasrec", {"use_text": False, "use_attributes": False}, {}, True),
    "ablation: no text channel": ("fusion_sasrec", {"text_channel": False}, {}, True),
    "ablation: no time": ("fusion_sasrec", {"use_time": False}, {}, True),
    "ablation: no augmentation": ("fusion_sasrec", {}, {}, False),
    "SASRec (ID-only, no time)": ("fusion_sasrec", {"use_text": False, "use_attributes": False, "use_time": False},
                                  {}, True),
    "GRU4Rec": ("gru4rec", {"num_layers": 1}, {}, True),
}
# The baselines are trained to their own best: a small validation search per model (first seed, chosen on
# validation NDCG@10), then the winner over every seed. Ours keeps its defaults (tuned on ml-latest-small).
# The GRU learns slowly at the transformer's lr 2e-3 (ml-latest-small, seed 42: NDCG@10 .019), hence its higher grid.
SEARCH = {
    "SASRec (ID-only, no time)": {"train.learning_rate": [2e-3, 5e-3], "model.dropout": [0.2, 0.5]},
    "GRU4Rec": {"train.learning_rate": [5e-3, 1e-2], "model.dropout": [0.1, 0.3]},
}
SEARCH_METRIC = "valid ndcg@10"


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


def used_items(dataset, thin_text: bool = False) -> pd.DataFrame:
    """The catalogue items someone interacted with; `thin_text`: without user tags (title and genres)."""
    items = dataset.items[dataset.items["item_id"].isin(dataset.interactions["item_id"])].reset_index(drop=True)
    return items.drop(columns=["tags"], errors="ignore") if thin_text else items


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


def augment_fitted(dataset, items: pd.DataFrame, sparse_max_events: int) -> tuple[pd.DataFrame, dict]:
    """Augmented interactions from recaug.augment (template backend, co-occurrence retriever)
    computed on each user's fitted events only (the last two, validation and test, are held back
    so that neither the retriever nor the picks see them). ml-latest-small has >= 20 events per
    user, so `sparse_max_events` decides which users count as sparse."""
    import tempfile

    from recaug.augment.backends.template import TemplateGenerator
    from recaug.augment.cache import GenerationCache
    from recaug.augment.inputs import AugmentInputs
    from recaug.augment.interactions import augment_interactions
    from recaug.augment.runner import GenerationRunner
    from recaug.data import splits
    from recaug.settings import load_settings

    fitted = splits.leave_one_out(dataset.interactions).train
    fitted = fitted.sort_values(["user_id", "timestamp", "item_id"], kind="stable").reset_index(drop=True)
    with tempfile.TemporaryDirectory(prefix="bench-augment-") as lake_root:
        settings = load_settings({
            "lake_root": lake_root,
            "augment": {"backend": {"type": "template"}, "interactions": {
                "sparse_max_events": sparse_max_events, "max_users_per_run": 100_000, "retriever": "cooccurrence"}},
        })
        runner = GenerationRunner(TemplateGenerator(), GenerationCache(settings.lake.url("cache", "generations")),
                                  settings.augment, progress=False)
        started = time.perf_counter()
        # only the interaction task: item enrichment and profiles do not feed the sequential model
        augmented, stats = augment_interactions(settings, AugmentInputs(fitted, items), runner)
    info = {"backend": "template", "retriever": "cooccurrence", "sparse_max_events": sparse_max_events,
            "sparse_users": stats.sparse_users, "users": int(augmented["user_id"].nunique()), "rows": len(augmented),
            "mean_confidence": float(augmented["confidence"].mean()) if len(augmented) else None,
            "seconds": time.perf_counter() - started}
    log.info("augmented interactions: %s", info)
    return augmented, info


def resolve_dataset(dataset: str | None, datasets: Path = DATASETS) -> Path:
    """The dataset directory: the one given, a bare name (ml-1m) under the shared datasets beside the
    repository, or ml-latest-small there by default (never one machine's absolute path); a clear
    error naming the path when it is missing."""
    name_only = dataset is not None and "/" not in dataset and not Path(dataset).is_dir()
    path = datasets / (dataset or "ml-latest-small") if dataset is None or name_only else Path(dataset)
    if not path.is_dir():
        where = "" if not (dataset is None or name_only) else f" (resolved from the repository root {ROOT})"
        present = sorted(p.name for p in datasets.iterdir()) if datasets.is_dir() else []
        raise SystemExit(f"dataset directory {path} does not exist{where}; datasets under {datasets}: "
                         f"{', '.join(present) or 'none'}; pass --dataset DIR")
    return path


def infer_format(path: Path) -> str:
    """The loader format from the directory's name (ml-latest-small, ml-1m, ml-100k, amazon-*)."""
    name = path.name.lower()
    for prefix, fmt in (("ml-latest", "ml-latest"), ("ml-100k", "ml-100k"), ("ml-1m", "ml-dat"), ("ml-10m", "ml-dat"),
                        ("ml-20m", "ml-latest"), ("ml-25m", "ml-latest"), ("amazon", "amazon")):
        if name.startswith(prefix):
            return fmt
    raise SystemExit(f"cannot tell the format of {path} from its name; pass --format (a recaug.data loader format)")


def grid_points(grid: dict[str, list]) -> list[dict[str, dict]]:
    """Every combination of a search grid, split into ModelConfig and TrainConfig overrides."""
    import itertools

    points = []
    for values in itertools.product(*grid.values()):
        point: dict[str, dict] = {"model": {}, "train": {}}
        for key, value in zip(grid, values):
            section, name = key.split(".", 1)
            point[section][name] = value
        points.append(point)
    return points


def choose_winner(candidates: list[dict]) -> dict:
    """The candidate with the best validation NDCG@10 (the first of equals: grids list the default first)."""
    return max(candidates, key=lambda c: (c[SEARCH_METRIC], -candidates.index(c)))


def _cpu_seconds() -> float:
    """User + system CPU time of this process (wall time is wrong across a pause; CPU time is not)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def flatten(result: dict) -> dict[str, float]:
    row = {k: v for k, v in result["overall"].items() if k in COLUMNS}
    row["cold hr@10"] = result["cold_items"].get("hr@10")
    row["cold ndcg@10"] = result["cold_items"].get("ndcg@10")
    return row


def train_one(model_type: str, config, seed_config, data) -> dict:
    """Train one model under the budget rule and evaluate it on validation and test (one row)."""
    from recaug.models.artifact import build_model
    from recaug.train.evaluate import evaluate_recommender
    from recaug.train.loop import fit, seed_everything

    seed_everything(seed_config.seed)
    model = build_model(model_type, config, data.num_items, data.item_features())
    cpu_start, load_before = _cpu_seconds(), os.getloadavg()[0]
    fitted = fit(model, data, seed_config)
    cpu_seconds = _cpu_seconds() - cpu_start
    valid = evaluate_recommender(model, data.valid, data, seed_config, config.max_length)["overall"]
    run = flatten(evaluate_recommender(model, data.test, data, seed_config, config.max_length))
    run.update({SEARCH_METRIC: valid.get("ndcg@10", 0.0), "seed": seed_config.seed})
    run.update(train_seconds=fitted.seconds, wall_seconds=fitted.seconds, epochs=len(fitted.history),
               best_epoch=fitted.best_epoch, **{"s/epoch": fitted.seconds / max(len(fitted.history), 1)},
               stop_reason=fitted.stop_reason, still_improving=fitted.still_improving,
               train_cpu_seconds=cpu_seconds, load_before=load_before, load_after=os.getloadavg()[0])
    if fitted.cold_boost:
        run.update({f"cold boost {key}": fitted.cold_boost[key] for key in
                    ("bias", "similarity", "valid_ndcg@10", "valid_cold_hr@10", "reference_cold_hr@10")})
    log.info("%s seed %d: ndcg@10 %.4f hr@10 %.4f cold hr@10 %.4f, valid ndcg@10 %.4f (%d epochs, best %d, "
             "stopped: %s%s, %.0fs wall, %.0fs CPU, load %.1f -> %.1f)", model_type, seed_config.seed, run["ndcg@10"],
             run["hr@10"], run["cold hr@10"], run[SEARCH_METRIC], run["epochs"], run["best_epoch"],
             fitted.stop_reason, ", STILL IMPROVING" if fitted.still_improving else "", run["train_seconds"],
             cpu_seconds, load_before, run["load_after"])
    return run


def search(name: str, model_type: str, config, seed_config, data, grid: dict[str, list]) -> tuple[dict, dict]:
    """Train each grid point on the first seed; returns (the search record, the winner's run)."""
    candidates = []
    for point in grid_points(grid):
        run = train_one(model_type, config.model_copy(update=point["model"]),
                        seed_config.model_copy(update=point["train"]), data)
        candidates.append({**point, SEARCH_METRIC: run[SEARCH_METRIC], "best_epoch": run["best_epoch"],
                           "stop_reason": run["stop_reason"], "train_seconds": run["train_seconds"],
                           "train_cpu_seconds": run["train_cpu_seconds"], "run": run})
        log.info("%s search %s: %s %.4f", name, point, SEARCH_METRIC, run[SEARCH_METRIC])
    winner = choose_winner(candidates)
    record = {"grid": grid, "metric": SEARCH_METRIC, "seed": seed_config.seed,
              "candidates": [{k: v for k, v in c.items() if k != "run"} for c in candidates],
              "winner": {"model": winner["model"], "train": winner["train"]}}
    return record, winner["run"]


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
        for key in [*COLUMNS, "cold hr@10", "cold ndcg@10", *TIMING]:
            if key in summary:
                mean, std = summary[key]["mean"], summary[key]["std"]
                row[key] = f"{mean:.4f}" + (f" ± {std:.4f}" if len(result["runs"]) > 1 else "") if key not in (
                    TIMING) else f"{mean:.0f}"
        reasons = [run["stop_reason"] for run in result["runs"] if "stop_reason" in run]
        if reasons:
            improving = sum(bool(run.get("still_improving")) for run in result["runs"])
            row["stopped"] = "/".join(reasons) + (f" (STILL IMPROVING: {improving} of {len(reasons)} runs)"
                                                  if improving else "")
        if "search" in result:
            row["note"] = "tuned: " + ", ".join(f"{k}={v}" for section in ("train", "model")
                                                for k, v in result["search"]["winner"][section].items())
        table_rows[name] = row
    columns = [*COLUMNS, "cold hr@10", "cold ndcg@10", *TIMING, "stopped", "note"]
    table = markdown_table(table_rows, columns)

    def mean(name: str, key: str) -> float | None:
        summary = results.get(name, {}).get("summary", {})
        return summary.get(key, {}).get("mean")

    def tuning(name: str) -> str:
        """Ratios name what they are quoted against: a searched row or one at its defaults (--no-search)."""
        return "tuned" if "search" in results.get(name, {}) else "untuned"

    ours, sasrec = "FusionSASRec (ours)", "SASRec (ID-only, no time)"
    sasrec_label = f"ours / plain SASRec ({tuning(sasrec)}), NDCG@10"
    comparisons = {}
    for label, other, key in (
        ("ours / ID-only ablation, NDCG@10", "ablation: ID-only items", "ndcg@10"),
        (sasrec_label, sasrec, "ndcg@10"),
        ("ours / no-time ablation, NDCG@10", "ablation: no time", "ndcg@10"),
        ("ours / no-text-channel ablation, NDCG@10", "ablation: no text channel", "ndcg@10"),
        ("ours / no-text-channel ablation, cold-item HR@10", "ablation: no text channel", "cold hr@10"),
        ("ours / no-augmentation ablation, NDCG@10", "ablation: no augmentation", "ndcg@10"),
        (f"ours / GRU4Rec ({tuning('GRU4Rec')}), NDCG@10", "GRU4Rec", "ndcg@10"),
        ("ours / ItemKNN, NDCG@10", "ItemKNN (cosine)", "ndcg@10"),
        ("ours / text similarity, cold-item HR@10", "Text similarity (MiniLM)", "cold hr@10"),
    ):
        a, b = mean(ours, key), mean(other, key)
        if a is not None and b:
            comparisons[label] = a / b
    targets = {
        "ours NDCG@10 >= 0.061": (mean(ours, "ndcg@10") or 0) >= 0.061,
        "ours >= 1.05 x ID-only NDCG@10": comparisons.get("ours / ID-only ablation, NDCG@10", 0) >= 1.05,
        f"ours >= 1.10 x plain SASRec ({tuning(sasrec)}) NDCG@10": comparisons.get(sasrec_label, 0) >= 1.10,
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


def merge_reports(paths: list[str], out: str) -> int:
    """Pool the runs of several partial reports into one report (context from the first)."""
    reports = [io.read_json(path) for path in paths]
    for path, report in zip(paths[1:], reports[1:]):
        for key in ("dataset", "protocol", "data"):
            if report[key] != reports[0][key]:
                raise SystemExit(f"{path}: {key} differs from {paths[0]}; only runs of one benchmark can be merged")
    results: dict[str, dict] = {}
    for report in reports:
        for name, result in report["results"].items():
            if "skipped" in result:
                results.setdefault(name, result)
                continue
            pooled = results.get(name)
            if pooled is None or "skipped" in pooled:
                results[name] = {**result, "runs": list(result["runs"])}
            elif "model" in result:  # a neural model: its runs are seeds; baselines are deterministic, keep one
                pooled["runs"] += [run for run in result["runs"] if run not in pooled["runs"]]
    for result in results.values():
        if "runs" in result:
            result["summary"] = aggregate(result["runs"])
    context = {**reports[0], "started": time.perf_counter(), "merged_from": paths,
               "seeds": max([len(r["runs"]) for r in results.values() if "model" in r], default=0)}
    report, table, comparisons, targets = build_report(results, context, complete=all(r["complete"] for r in reports))
    report["total_seconds"] = sum(r["total_seconds"] for r in reports)
    io.write_json(out, report)
    print_report(report, table, comparisons, targets, out)
    return 0


def print_report(report: dict, table: str, comparisons: dict, targets: dict, out: str) -> None:
    data = report["data"]
    print(f"\n## Quality on {Path(report['dataset']).name} ({data['users']} users, {data['items']} items, "
          f"{report['cold_item_cases']} cold-item test cases, {report['seeds']} seed(s))\n")
    print(table)
    print("\n| comparison | ratio |\n|---|---|")
    for label, ratio in comparisons.items():
        print(f"| {label} | {ratio:.3f} |")
    print("\n| target | met |\n|---|---|")
    for label, met in targets.items():
        print(f"| {label} | {'yes' if met else 'NO'} |")
    start, end = report["machine"]["load_average_start"], report["machine"]["load_average_end"]
    print(f"\nload average start {start[0]:.1f}, end {end[0]:.1f} on {report['machine']['cpus']} CPUs; wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None,
                        help=f"dataset directory (default: {DATASETS.name}/ml-latest-small under ../shared of the repo root)")
    parser.add_argument("--format", default=None, help="a recaug.data loader format (movielens-latest = ml-latest); "
                        "default: from the dataset directory's name (ml-latest-small, ml-1m, ml-100k, amazon-*)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per neural model")
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, at most 15 epochs, only ours + ID-only + SASRec, no search (untuned rows)")
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument("--models", default=None, help="comma-separated subset of neural model names (substring match)")
    parser.add_argument("--augmented", default=None,
                        help="parquet of augmented interactions (canonical schema); default: run recaug.augment's "
                        "template backend on the fitted events")
    parser.add_argument("--sparse-max-events", type=int, default=40,
                        help="users with at most this many fitted events get augmented interactions")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--thin-text", action="store_true",
                        help="item text of title and genres only (drop user tags), as ml-1m ships it: the case "
                             "where cold items have little text to go on")
    parser.add_argument("--no-search", action="store_true",
                        help="train the baselines at their defaults instead of each one's validation search")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="model.KEY=V or train.KEY=V override (repeatable)")
    parser.add_argument("--out", default=None, help="default: bench/results/quality_<dataset name>.json")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="combine reports of runs split over processes or machines (same dataset and "
                        "protocol; runs of the same model are pooled as seeds) into --out, without training")
    args = parser.parse_args(argv)
    configure_logging()
    if args.merge:
        return merge_reports(args.merge, args.out or str(RESULTS / "quality.json"))
    args.dataset = str(resolve_dataset(args.dataset))
    args.out = args.out or str(RESULTS / f"quality_{Path(args.dataset).name}.json")
    args.format = args.format or infer_format(Path(args.dataset))

    import torch

    from recaug.data.loaders import load_dataset
    from recaug.models.item_knn import ItemKNN
    from recaug.models.most_pop import MostPop
    from recaug.models.text_similarity import TextSimilarity
    from recaug.models.config import ModelConfig
    from recaug.settings import parse_overrides
    from recaug.train.config import TrainConfig
    from recaug.train.dataset import build_sequences
    from recaug.train.evaluate import evaluate_recommender

    torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.overrides)
    model_base = ModelConfig(**overrides.get("model", {}))
    train_config = TrainConfig(num_threads=args.threads, **overrides.get("train", {}))
    seeds = 1 if args.quick else args.seeds
    args.no_search = args.no_search or args.quick
    if args.epochs or args.quick:
        train_config = train_config.model_copy(update={"epochs": args.epochs or min(train_config.epochs, 15)})
    load_start = os.getloadavg()

    started = time.perf_counter()
    dataset = load_dataset(FORMAT_ALIASES.get(args.format, args.format), args.dataset)
    items = used_items(dataset, args.thin_text)
    embeddings, embed_info = item_embeddings(items)
    if args.augmented:
        augmented, augment_info = pd.read_parquet(args.augmented), {"file": args.augmented}
    else:
        augmented, augment_info = augment_fitted(dataset, items, args.sparse_max_events)
    data = build_sequences(dataset.interactions, items, embeddings, augmented,
                           max_categories=model_base.max_categories, price_buckets=model_base.price_buckets)
    log.info("data ready in %.1fs: %s", time.perf_counter() - started, data.summary())

    results: dict[str, dict] = {}
    context = {
        "dataset": args.dataset, "format": args.format, "protocol": "leave-one-out, full ranking, history masked",
        "item_text": "title, genres" if args.thin_text else "title, genres, tags",
        "data": data.summary(), "cold_item_cases": int((data.train_counts[data.test.targets] < 5).sum()),
        "embeddings": embed_info, "augmentation": augment_info, "seeds": seeds, "train": train_config.model_dump(mode="json"),
        "model": model_base.model_dump(mode="json"),
        "machine": {"cpus": os.cpu_count(), "torch_threads": args.threads, "platform": platform.platform(),
                    "load_average_start": load_start},
        "started": started,
    }
    for name, fit_baseline in (("MostPop", MostPop.fit), ("ItemKNN (cosine)", ItemKNN.fit),
                               ("Text similarity (MiniLM)", TextSimilarity.fit)):
        t0 = time.perf_counter()
        recommender = fit_baseline(data)
        run = flatten(evaluate_recommender(recommender, data.test, data, train_config, model_base.max_length))
        run["wall_seconds"] = time.perf_counter() - t0  # fit + full-ranking evaluation
        results[name] = {"runs": [run], "summary": aggregate([run])}
        log.info("%s: ndcg@10 %.4f hr@10 %.4f cold hr@10 %.4f", name, run["ndcg@10"], run["hr@10"], run["cold hr@10"])

    chosen = dict(NEURAL)
    if args.quick:
        chosen = {k: v for k, v in NEURAL.items() if k.startswith(("FusionSASRec", "ablation: ID-only", "SASRec"))}
    if args.models:
        wanted = [w.strip().lower() for w in args.models.split(",")]
        chosen = {k: v for k, v in NEURAL.items() if any(w in k.lower() for w in wanted)}
    has_augmented = bool(data.augmented)
    for name, (model_type, model_overrides, train_overrides, with_augmented) in chosen.items():
        if name == "ablation: no augmentation" and not has_augmented:
            results[name] = {"skipped": "the dataset has no augmented interactions (pass --augmented)"}
            continue
        config = model_base.model_copy(update=model_overrides)
        base_seed_config = train_config.model_copy(update={**train_overrides, "use_augmented": with_augmented})
        runs, record = [], None
        if name in SEARCH and not args.no_search:
            record, first = search(name, model_type, config, base_seed_config, data, SEARCH[name])
            config = config.model_copy(update=record["winner"]["model"])
            base_seed_config = base_seed_config.model_copy(update=record["winner"]["train"])
            train_overrides = {**train_overrides, **record["winner"]["train"]}
            runs.append(first)  # the winner's first-seed run is the first seed of the row
        for seed in range(len(runs), seeds):
            runs.append(train_one(model_type, config, base_seed_config.model_copy(
                update={"seed": train_config.seed + seed}), data))
        results[name] = {"runs": runs, "summary": aggregate(runs), "model": config.model_dump(mode="json"),
                         "train_overrides": train_overrides, **({"search": record} if record else {})}
        io.write_json(args.out, build_report(results, context, complete=False)[0])  # partial results survive a stop

    report, table, comparisons, targets = build_report(results, context, complete=True)
    io.write_json(args.out, report)
    print_report(report, table, comparisons, targets, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
