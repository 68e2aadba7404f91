"""Does training on the LLM's proposed negatives help? FusionSASRec with and without hard negatives.

Same data, protocol and defaults as bench/bench_quality.py (ml-latest-small, leave-one-out,
full ranking, augmented interactions from recaug.augment run on the fitted events only).
The negatives are those of the TEMPLATE backend, not of an LLM: the template answers the
pick task with the retriever's best candidate as positive and its last (8th of 8
co-occurrence candidates) as negative, so this measures the training mechanism on
retriever-ranked negatives; a real LLM's negatives go through the same columns and loss.

    .venv/bin/python bench/bench_llm_signals.py --variant off --seeds 42,43 --out /tmp/off.json
    .venv/bin/python bench/bench_llm_signals.py --variant hard_negatives --seeds 42,43 --out /tmp/on.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_quality import augment_fitted, item_embeddings, resolve_dataset, train_one  # noqa: E402
from recaug import io  # noqa: E402
from recaug.logs import configure_logging  # noqa: E402

log = logging.getLogger("bench_llm_signals")
VARIANTS = {"off": {"hard_negatives": False}, "hard_negatives": {"hard_negatives": True}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=None, help="default: ../shared/datasets/ml-latest-small")
    parser.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    parser.add_argument("--weight", type=float, default=None, help="train.hard_negative_weight (default: config's)")
    parser.add_argument("--seeds", default="42,43")
    parser.add_argument("--epochs", type=int, default=None, help="train.epochs cap (default: config's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sparse-max-events", type=int, default=40)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    configure_logging()

    import torch

    from recaug.data.loaders import load_dataset
    from recaug.models.config import ModelConfig
    from recaug.train.config import TrainConfig
    from recaug.train.dataset import build_sequences

    torch.set_num_threads(args.threads)
    dataset = load_dataset("ml-latest", str(resolve_dataset(args.dataset)))
    items = dataset.items[dataset.items["item_id"].isin(dataset.interactions["item_id"])].reset_index(drop=True)
    embeddings, _ = item_embeddings(items)
    augmented, augment_info = augment_fitted(dataset, items, args.sparse_max_events)
    model = ModelConfig()
    data = build_sequences(dataset.interactions, items, embeddings, augmented,
                           max_categories=model.max_categories, price_buckets=model.price_buckets)
    overrides = dict(VARIANTS[args.variant], num_threads=args.threads)
    if args.weight is not None:
        overrides["hard_negative_weight"] = args.weight
    if args.epochs:
        overrides["epochs"] = args.epochs
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        config = TrainConfig(seed=seed, **overrides)
        started = time.perf_counter()
        runs.append(train_one("fusion_sasrec", model, config, data))
        log.info("%s seed %d done in %.0fs", args.variant, seed, time.perf_counter() - started)
        io.write_json(args.out, {"variant": args.variant, "train": config.model_dump(mode="json"),
                                 "negatives": "template backend: the retriever's last of 8 candidates",
                                 "augmentation": augment_info, "data": data.summary(), "runs": runs})
    print(json.dumps([{k: r[k] for k in ("seed", "valid ndcg@10", "ndcg@10", "cold hr@10")} for r in runs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
