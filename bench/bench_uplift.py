"""Augmentation study: does what a real LLM writes make FusionSASRec better?

The real recaug.augment components (item enrichment, user profiles, interaction picks) run with a chosen
backend on the fitted events only (validation and test targets held back, as in bench_quality), under a
prompt budget spent on the coldest items and the sparsest users first, through the generation cache (a
rerun sends no prompt it has sent before). Then ours trains without augmentation, with each augmentation
alone and with all of them, over several seeds, on the same split and protocol as bench_quality:

- enrichment: the LLM's description and keywords are appended to the item text (re-embedded with MiniLM),
  and its attributes that parse become item features (the `llm_*` columns, as `recaug train` reads them);
- profiles: the profile text, embedded with MiniLM, feeds the user tower (model.use_user_features);
- interactions: the picks become augmented training rows (train.use_augmented).

ml-latest-small has >= 20 ratings per user, so there is no cold user: `--thin-users` keeps only the newest
`--thin-keep` fitted events (plus the validation and test events) of a seeded share of users. They form the
cold-user slice (fewer than train.cold_user_threshold training events) and are the sparse users the budget
serves first. Profiles summarise fitted events only, so they never read a validation or test target (in
training the tower sees a profile written after the windows it predicts: in-sample, as any user feature).

    .venv/bin/python bench/bench_uplift.py --backend local --budget 60 --seeds 3
    .venv/bin/python bench/bench_uplift.py --backend openai --endpoint http://127.0.0.1:8000/v1 --model NAME
    # variants over processes (the generation cache makes the augmentation free after the first), then pool:
    .venv/bin/python bench/bench_uplift.py --variants "no augmentation" --out /tmp/a.json   # ... then
    .venv/bin/python bench/bench_uplift.py --merge /tmp/a.json /tmp/b.json
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import bench_quality as bq  # noqa: E402
from recaug import io  # noqa: E402
from recaug.logs import configure_logging  # noqa: E402
from recaug.train.user_features import UserFeatureTimeline  # noqa: E402

log = logging.getLogger("bench_uplift")
CACHE = bq.RESULTS / "cache" / "generations"
# variant -> (enriched item text, profiles in the user tower, augmented training rows)
VARIANTS = {
    "ours, no augmentation": (False, False, False),
    "+ enrichment": (True, False, False),
    "+ profiles": (False, True, False),
    "+ interactions": (False, False, True),
    "+ all three": (True, True, True),
}
SLICES = {"all": "overall", "cold users": "cold_users", "cold items": "cold_items"}
METRICS = ("ndcg@10", "hr@10")


def thin_users(interactions: pd.DataFrame, share: float, keep: int, seed: int) -> tuple[pd.DataFrame, list[str]]:
    """Keep only the newest `keep` + 2 events (fitted tail, validation, test) of a seeded share of users."""
    from recaug.data import splits

    ordered = splits.chronological(interactions)
    users = np.sort(ordered["user_id"].astype(str).unique())
    chosen = set(np.random.default_rng(seed).choice(users, size=int(round(share * len(users))), replace=False))
    rank_from_end = ordered.groupby("user_id").cumcount(ascending=False)
    dropped = ordered["user_id"].astype(str).isin(chosen) & (rank_from_end >= keep + 2)
    return ordered[~dropped].reset_index(drop=True), sorted(chosen)


def backend_config(args) -> dict:
    if args.backend == "local":
        return {"type": "transformers", "num_threads": args.threads}
    if args.backend == "openai":
        return {"type": "openai", "base_url": args.endpoint, "model": args.model}
    return {"type": "template"}


def run_augmentation(args, interactions: pd.DataFrame, items: pd.DataFrame, overrides: dict) -> tuple[dict, dict]:
    """The three tasks on the fitted events, one generator, the persistent generation cache; each task
    may send at most a third of the budget (enrichment first, then profiles, then picks)."""
    from recaug.augment.cache import GenerationCache
    from recaug.augment.enrich import enrich_items
    from recaug.augment.generator import create_generator
    from recaug.augment.inputs import AugmentInputs
    from recaug.augment.interactions import augment_interactions
    from recaug.augment.profiles import build_profiles
    from recaug.augment.runner import GenerationRunner
    from recaug.augment.budget import LLMBudget
    from recaug.data import splits
    from recaug.settings import load_settings

    fitted = splits.leave_one_out(interactions).train
    fitted = fitted.sort_values(["user_id", "timestamp", "item_id"], kind="stable").reset_index(drop=True)
    share = args.budget // 3
    with tempfile.TemporaryDirectory(prefix="bench-uplift-") as lake_root:
        augment = {"backend": backend_config(args), "max_llm_prompts_per_run": args.budget,
                   "max_items_per_run": share, "max_profiles_per_run": share,
                   "interactions": {"sparse_max_events": args.thin_keep, "max_users_per_run": args.budget - 2 * share,
                                    "retriever": "cooccurrence"}}
        for key, value in overrides.get("augment", {}).items():
            augment[key] = {**augment.get(key, {}), **value} if isinstance(value, dict) else value
        settings = load_settings({"lake_root": lake_root, "augment": augment})
        generator = create_generator(settings.augment.backend)
        try:
            runner = GenerationRunner(generator, GenerationCache(str(CACHE)), settings.augment, progress=False,
                                      budget=LLMBudget(args.budget if generator.backend != "template" else 0))
            inputs = AugmentInputs(fitted, items)
            started = time.perf_counter()
            enrichment, item_stats = enrich_items(settings, inputs, runner)
            profiles, profile_stats = build_profiles(settings, inputs, runner)
            augmented, pick_stats = augment_interactions(settings, inputs, runner)
            seconds = time.perf_counter() - started
        finally:
            generator.close()
    # picks the budget deferred are template stand-ins (unjudged): like the other tasks, only generated rows count
    augmented = augmented[augmented["backend"].astype(str) == generator.backend].reset_index(drop=True)
    tasks = {"enrichment": item_stats, "profiles": profile_stats, "interactions": pick_stats}
    info = {"backend": generator.backend, "model_id": generator.model_id, "budget": args.budget,
            "llm_seconds": round(seconds, 1),
            "llm_prompts": sum(s.llm_prompts for s in tasks.values()),
            "generations": sum(s.generations for s in tasks.values()),
            "cache_hits": sum(s.cache_hits for s in tasks.values()),
            "tasks": {name: s.model_dump(mode="json") for name, s in tasks.items()}}
    log.info("augmentation: %s", {k: v for k, v in info.items() if k != "tasks"})
    return {"enrichment": enrichment, "profiles": profiles, "interactions": augmented}, info


def generated(table: pd.DataFrame) -> pd.DataFrame:
    """Rows the generator wrote (not a template stand-in for a failed or budget-deferred prompt); with the
    template backend every row is its output."""
    return table[~table["fallback"].astype(bool) & ~table["deferred"].astype(bool)]


def enriched_embeddings(items: pd.DataFrame, base: pd.DataFrame, enrichment: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Item embeddings with the enriched items re-embedded from their text + description + keywords."""
    from recaug.embed.config import EmbedConfig
    from recaug.embed.encoder import encode_texts

    rows = generated(enrichment).set_index("item_id")
    if rows.empty:
        return base, 0
    texts = dict(zip(items["item_id"].astype(str), bq.item_text(items)))
    ids = [i for i in rows.index if i in texts]
    new = []
    for item_id in ids:
        parts = [texts[item_id], str(rows.at[item_id, "description"] or "")]
        keywords = str(rows.at[item_id, "keywords"] or "")
        if keywords:
            parts.append("Keywords: " + ", ".join(keywords.split("|")))
        new.append(". ".join(p for p in parts if p))
    vectors = encode_texts(new, EmbedConfig())
    frame = base.copy()
    position = {item_id: i for i, item_id in enumerate(frame["item_id"].astype(str))}
    embeddings = list(frame["embedding"])
    for item_id, vector in zip(ids, vectors.astype(np.float32)):
        embeddings[position[item_id]] = vector
    frame["embedding"] = embeddings
    return frame, len(ids)


def profile_features(users: list[str], profiles: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The user tower's frame (row u = users[u]): the MiniLM embedding of each generated profile."""
    from recaug.embed.config import EmbedConfig
    from recaug.embed.encoder import encode_texts
    from recaug.models.user_tower import PROFILE

    rows = generated(profiles)
    vectors = dict(zip(rows["user_id"].astype(str), encode_texts(rows["profile"].astype(str).tolist(), EmbedConfig())))
    return pd.DataFrame({PROFILE: [vectors.get(u) for u in users]}), len(vectors)


def train_variant(config, train_config, data, seed: int) -> dict:
    """One seed of one variant: validation and test metrics on every slice."""
    from recaug.models.artifact import build_model
    from recaug.models.user_tower import UserFeatureSpec
    from recaug.train.evaluate import evaluate_recommender
    from recaug.train.loop import fit, seed_everything

    seed_config = train_config.model_copy(update={"seed": seed})
    seed_everything(seed)
    spec = UserFeatureSpec.fit(data.user_features.first_known()) if config.use_user_features else None
    model = build_model("fusion_sasrec", config, data.num_items, data.item_features(), spec)
    fitted = fit(model, data, seed_config)
    run = {"seed": seed, "epochs": len(fitted.history), "best_epoch": fitted.best_epoch,
           "stop_reason": fitted.stop_reason, "still_improving": fitted.still_improving,
           "train_seconds": round(fitted.seconds, 1)}
    for split, cases in (("valid", data.valid), ("test", data.test)):
        result = evaluate_recommender(model, cases, data, seed_config, config.max_length)
        for label, key in SLICES.items():
            for metric in METRICS:
                run[f"{split} {label} {metric}"] = result[key].get(metric)
            run[f"{split} {label} cases"] = result[key].get("cases")
    log.info("seed %d: test ndcg@10 %.4f (cold users %.4f, cold items %.4f), valid ndcg@10 %.4f, %d epochs, %.0fs",
             seed, run["test all ndcg@10"], run["test cold users ndcg@10"] or 0, run["test cold items ndcg@10"] or 0,
             run["valid all ndcg@10"], run["epochs"], run["train_seconds"])
    return run


def verdicts(results: dict) -> dict[str, dict[str, str]]:
    """Per augmentation and slice: better / worse by more than one std (the larger of the two rows'), or within."""
    base = results["ours, no augmentation"]["summary"]
    out = {}
    for name, result in results.items():
        if name == "ours, no augmentation":
            continue
        row = {}
        for split in ("valid", "test"):
            for label in SLICES:
                key = f"{split} {label} ndcg@10"
                if key not in base or key not in result["summary"]:
                    continue
                a, b = result["summary"][key], base[key]
                spread = max(a["std"], b["std"])
                delta = a["mean"] - b["mean"]
                row[f"{split} {label}"] = ("better" if delta > spread else "worse" if -delta > spread else "within 1 std")
        out[name] = row
    return out


def table(results: dict) -> str:
    header = ["variant"] + [f"{split} {label} {m}" for split in ("test", "valid") for label in SLICES for m in METRICS
                            if split == "test" or m == "ndcg@10"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, result in results.items():
        cells = [name]
        for column in header[1:]:
            s = result["summary"].get(column)
            cells.append("-" if s is None else f"{s['mean']:.4f} ± {s['std']:.4f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def merge(paths: list[str], out: str) -> int:
    """Pool reports of variants (or seeds: --set train.seed=S --seeds 1) run in separate processes (same dataset,
    thinning and LLM); runs of one variant are pooled as seeds."""
    reports = [io.read_json(path) for path in paths]
    # the augmentation record of the run that prompted most (a run over a filled cache may pass --budget 0)
    first = max(reports, key=lambda r: (r["augmentation"]["budget"], r["augmentation"]["llm_prompts"]))
    report = {**first, "results": {}, "merged_from": paths}
    for path, other in zip(paths, reports):
        if (other["dataset"], other["thin_users"], other["augmentation"]["model_id"]) != (
                report["dataset"], report["thin_users"], report["augmentation"]["model_id"]):
            raise SystemExit(f"{path}: another dataset, thinning or LLM than the others; cannot merge")
        for name, result in other["results"].items():
            pooled = report["results"].setdefault(name, {**result, "runs": []})
            pooled["runs"] += [run for run in result["runs"] if run["seed"] not in {r["seed"] for r in pooled["runs"]}]
    for result in report["results"].values():
        result["summary"] = bq.aggregate(result["runs"])
    report["seeds"] = max(len(r["runs"]) for r in report["results"].values())
    order = [name for name in VARIANTS if name in report["results"]]
    report["results"] = {name: report["results"][name] for name in order}
    if "ours, no augmentation" in report["results"]:
        report["verdicts"] = verdicts(report["results"])
    io.write_json(out, report)
    print_report(report, out)
    return 0


def print_report(report: dict, out: str) -> None:
    info = report["augmentation"]
    print(f"\n## Augmentation study on {Path(report['dataset']).name} ({info['model_id']}, {info['llm_prompts']} "
          f"LLM prompts in {info['llm_seconds']:.0f}s, {info['cache_hits']} cache hits; {report['seeds']} seeds, "
          f"NDCG@10 / HR@10 mean ± std)\n")
    print(table(report["results"]))
    for name, row in report.get("verdicts", {}).items():
        print(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    print(f"\nwrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="dataset directory or name (default: ml-latest-small)")
    parser.add_argument("--format", default=None, help="a recaug.data loader format (default: from the name)")
    parser.add_argument("--backend", choices=["local", "openai", "template"], default="local",
                        help="local: SmolLM2-135M via transformers; openai: --endpoint/--model; template: no LLM")
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000/v1", help="OpenAI-compatible base URL")
    parser.add_argument("--model", default="default", help="model name sent to the OpenAI-compatible endpoint")
    parser.add_argument("--budget", type=int, default=60,
                        help="LLM prompts of this run (cache hits are free); a third each for items, profiles, picks")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs (the cap of the budget rule)")
    parser.add_argument("--thin-users", type=float, default=0.2, help="share of users cut to --thin-keep fitted events")
    parser.add_argument("--thin-keep", type=int, default=3, help="fitted events a thinned user keeps")
    parser.add_argument("--thin-seed", type=int, default=42, help="seed choosing the thinned users (not the training seed)")
    parser.add_argument("--variants", default=None, help="comma-separated subset of variant names (substring match)")
    parser.add_argument("--thin-text", action="store_true",
                        help="item text of title and genres only (no user tags): what the enrichment is for")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="model.KEY=V, train.KEY=V or augment.KEY=V override (repeatable)")
    parser.add_argument("--out", default=str(bq.RESULTS / "uplift.json"))
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="pool reports of variants run in separate processes into --out, without training")
    args = parser.parse_args(argv)
    configure_logging()
    if args.merge:
        return merge(args.merge, args.out)
    dataset_dir = bq.resolve_dataset(args.dataset)
    fmt = args.format or bq.infer_format(dataset_dir)

    import torch

    from recaug.data.loaders import load_dataset
    from recaug.features.enrichment import attribute_columns
    from recaug.models.config import ModelConfig
    from recaug.settings import parse_overrides
    from recaug.train.config import TrainConfig
    from recaug.train.dataset import build_sequences

    torch.set_num_threads(args.threads)
    overrides = parse_overrides(args.overrides)
    model_base = ModelConfig(**overrides.get("model", {}))
    train_config = TrainConfig(num_threads=args.threads, **overrides.get("train", {}))
    if args.epochs:
        train_config = train_config.model_copy(update={"epochs": args.epochs})
    started = time.perf_counter()
    dataset = load_dataset(bq.FORMAT_ALIASES.get(fmt, fmt), str(dataset_dir))
    items = bq.used_items(dataset, args.thin_text)
    interactions, thinned = thin_users(dataset.interactions, args.thin_users, args.thin_keep, args.thin_seed)
    base_embeddings, embed_info = bq.item_embeddings(items)
    outputs, augment_info = run_augmentation(args, interactions, items, overrides)
    enriched, enriched_items = enriched_embeddings(items, base_embeddings, outputs["enrichment"])

    attributes, attribute_stats = attribute_columns(generated(outputs["enrichment"]))

    def sequences(embeddings, item_attributes=None):
        return build_sequences(interactions, items, embeddings, outputs["interactions"], item_attributes,
                               max_categories=model_base.max_categories, price_buckets=model_base.price_buckets)

    plain = sequences(base_embeddings)
    with_text = sequences(enriched, attributes if len(attributes) else None) if enriched_items else None
    users_frame, profiled = profile_features(plain.users, outputs["profiles"])
    augment_info.update(enriched_items=enriched_items, items_with_llm_attributes=len(attributes),
                        llm_attribute_stats=attribute_stats.model_dump(), profiled_users=profiled,
                        augmented_rows=len(outputs["interactions"]), thinned_users=len(thinned))
    log.info("data ready in %.0fs: %s; %d items enriched, %d users profiled, %d augmented rows",
             time.perf_counter() - started, plain.summary(), enriched_items, profiled, len(outputs["interactions"]))

    chosen = VARIANTS
    if args.variants:
        wanted = [w.strip().lower() for w in args.variants.split(",")]
        chosen = {k: v for k, v in VARIANTS.items() if any(w in k.lower() for w in wanted)}
    report = {"dataset": str(dataset_dir), "protocol": "leave-one-out, full ranking, history masked; thinned users "
              "form the cold-user slice", "item_text": "title, genres" if args.thin_text else "title, genres, tags",
              "thin_users": args.thin_users, "thin_keep": args.thin_keep,
              "thin_seed": args.thin_seed,
              "augmentation": augment_info, "embeddings": embed_info, "train": train_config.model_dump(mode="json"),
              "model": model_base.model_dump(mode="json"), "seeds": args.seeds, "results": {},
              "machine": {"cpus": os.cpu_count(), "torch_threads": args.threads, "load_average_start": os.getloadavg()}}
    results = report["results"]
    for name, (enrich, profiles, picks) in chosen.items():
        data = with_text if enrich and with_text is not None else plain
        data.user_features = UserFeatureTimeline.per_user(users_frame) if profiles else None
        config = model_base.model_copy(update={"use_user_features": profiles and profiled > 0})
        seed_train = train_config.model_copy(update={"use_augmented": picks and len(outputs["interactions"]) > 0})
        log.info("variant %s", name)
        runs = [train_variant(config, seed_train, data, train_config.seed + s) for s in range(args.seeds)]
        results[name] = {"runs": runs, "summary": bq.aggregate(runs),
                         "uses": {"enrichment": data is with_text, "profiles": config.use_user_features,
                                  "interactions": seed_train.use_augmented}}
        io.write_json(args.out, report)  # partial results survive a stop
    if "ours, no augmentation" in results:
        report["verdicts"] = verdicts(results)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    report["machine"]["load_average_end"] = os.getloadavg()
    io.write_json(args.out, report)
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
