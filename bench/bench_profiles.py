"""Profiles/attributes benchmark: does the user tower help users the model has never seen?

Protocol: a synthetic marketplace (recaug.data.synth) with user attributes; a share of its
users is held out whole (cold users: no event in training). The rest trains FusionSASRec
(leave-one-out for the warm test). Each cold user is one case: empty history, target =
their first event, answered at its time, full ranking. User attributes reach the trainer
the way `recaug train` reads them: features built into a Feast store in a temporary lake,
then the point-in-time join of service `training_users` at each user's first event.

Arms, same data, same seeds, same training (first events are targets from an empty
history in both): the model with the user tower vs without it; global popularity (what
the gateway answers a user without history) and segment popularity (items counted among
warm users with the same attributes, coded as the tower codes them: the one-line
alternative). Markets: `segment_signal` 0 (attributes independent of taste: the honest
control, no model can gain) and the signals given (region and age band follow the user's
main topic for that share of users).

    .venv/bin/python bench/bench_profiles.py [--seeds 3] [--signals 0,1] [--epochs 10] [--quick]
    .venv/bin/python bench/bench_profiles.py --model-arms ""    # the two baselines only, in seconds
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recaug import io  # noqa: E402
from recaug.logs import configure_logging  # noqa: E402

log = logging.getLogger("bench_profiles")
RESULTS = ROOT / "bench" / "results"
ARMS = ("with user tower", "without user tower")


def market(args, signal: float):
    """(interactions, items, users) of the synthetic marketplace at this segment signal."""
    from recaug.data.config import SynthConfig
    from recaug.data.synth import generate_days

    config = SynthConfig(seed=args.market_seed, n_users=args.users, n_items=args.items,
                         n_interactions=args.interactions, n_days=args.days, segment_signal=signal)
    days = list(generate_days(config))
    return tuple(pd.concat([getattr(d, part) for d in days], ignore_index=True)
                 for part in ("interactions", "items", "users"))


def prepare(args, signal: float, lake_root: str):
    """SequenceData of the warm users + cold cases, user features through Feast."""
    from recaug.features.build import build_features
    from recaug.features.store import apply_definitions
    from recaug.settings import load_settings
    from recaug.train.dataset import build_sequences
    from recaug.train.user_features import first_answer_times, user_feature_frame

    interactions, items, users = market(args, signal)
    rng = np.random.default_rng(args.market_seed)
    ids = np.sort(interactions["user_id"].unique())
    cold = set(rng.choice(ids, int(len(ids) * args.cold_share), replace=False))
    is_cold = interactions["user_id"].isin(cold)
    settings = load_settings({"lake_root": lake_root})
    io.write_parquet(interactions[~is_cold], settings.lake.interactions)  # the store only knows warm histories
    io.write_parquet(items, settings.lake.items)
    io.write_parquet(users, settings.lake.users)
    started = time.perf_counter()
    build_features(settings)
    apply_definitions(settings)
    data = build_sequences(interactions[~is_cold], items)
    cold_cases = data.add_new_users(interactions[is_cold])
    data.user_features = user_feature_frame(settings, data, first_answer_times(data, cold_cases))
    log.info("signal %.2f: %s, %d cold-user cases, features in %.1fs", signal, data.summary(), len(cold_cases),
             time.perf_counter() - started)
    return data, cold_cases


class SegmentPopularity:
    """The one-line alternative to the tower: each item's fitted events among warm users of the
    same segment (every categorical attribute and the age quantile, coded as the tower codes
    them), global popularity breaking ties and covering unseen segments."""

    name = "segment popularity"
    padding_invariant = True
    training = False

    def __init__(self, data, spec):
        import torch

        self.user_spec = spec
        self.global_counts = data.train_counts.astype(np.float64)
        self.counts: dict[tuple, np.ndarray] = {}
        keys = self.keys(spec.encode(data.user_features))
        for u, key in enumerate(keys):
            fitted = data.user_items[u][:int(data.fit_end[u])]
            if len(fitted):
                np.add.at(self.counts.setdefault(key, np.zeros_like(self.global_counts)), fitted, 1.0)
        self._torch = torch

    def keys(self, user) -> list[tuple]:
        codes = user.categorical.cpu().numpy()
        numbers = user.numeric.cpu().numpy()
        buckets = np.stack([np.where(np.isnan(numbers[:, i]), -1, np.searchsorted(n["edges"], numbers[:, i], side="right"))
                            for i, n in enumerate(self.user_spec.numeric.values())], axis=1) if numbers.shape[1] \
            else np.zeros((len(codes), 0), dtype=np.int64)
        return [tuple(row) for row in np.concatenate([codes, buckets], axis=1).tolist()]

    def score(self, history, timestamps, now, user=None):
        tie_break = self.global_counts / max(self.global_counts.sum(), 1.0)
        rows = [self.counts.get(key, self.global_counts) + tie_break for key in self.keys(user)]
        return self._torch.from_numpy(np.stack(rows)).float().to(history.device)


def metrics(result: dict) -> dict[str, float]:
    return {key: result["overall"].get(key) for key in ("ndcg@10", "hr@10", "cases")}


def run_signal(args, signal: float) -> dict:
    import torch

    from recaug.models.artifact import build_model
    from recaug.models.config import ModelConfig
    from recaug.models.most_pop import MostPop
    from recaug.models.user_tower import UserFeatureSpec
    from recaug.train.config import TrainConfig
    from recaug.train.evaluate import evaluate_recommender
    from recaug.train.loop import fit, seed_everything

    with tempfile.TemporaryDirectory(prefix="bench-profiles-") as lake_root:
        data, cold_cases = prepare(args, signal, lake_root)
    base_train = TrainConfig(epochs=args.epochs, num_threads=args.threads, first_event_targets=True)
    model_base = ModelConfig(max_length=args.max_length)
    popular = MostPop.fit(data)
    results = {"popularity (today's cold answer)": {"runs": [{
        "cold users": metrics(evaluate_recommender(popular, cold_cases, data, base_train, model_base.max_length)),
        "warm test": metrics(evaluate_recommender(popular, data.test, data, base_train, model_base.max_length)),
    }]}}
    spec = UserFeatureSpec.fit(data.user_features)
    segments = SegmentPopularity(data, spec)
    results["segment popularity (one-line alternative)"] = {"runs": [{
        "cold users": metrics(evaluate_recommender(segments, cold_cases, data, base_train, model_base.max_length)),
        "warm test": metrics(evaluate_recommender(segments, data.test, data, base_train, model_base.max_length)),
    }]}
    for arm in [a for a in ARMS if a in args.model_arms.split(",")]:
        config = model_base.model_copy(update={"use_user_features": arm == ARMS[0]})
        runs = []
        for seed in range(args.seeds):
            train = base_train.model_copy(update={"seed": base_train.seed + seed})
            seed_everything(train.seed)
            torch.set_num_threads(args.threads)
            model = build_model("fusion_sasrec", config, data.num_items, data.item_features(), spec)
            fitted = fit(model, data, train)
            run = {
                "cold users": metrics(evaluate_recommender(model, cold_cases, data, train, config.max_length)),
                "warm test": metrics(evaluate_recommender(model, data.test, data, train, config.max_length)),
                "epochs": len(fitted.history), "best_epoch": fitted.best_epoch, "train_seconds": fitted.seconds,
            }
            runs.append(run)
            log.info("signal %.2f %s seed %d: cold-user ndcg@10 %.4f, warm ndcg@10 %.4f (%d epochs, %.0fs)", signal,
                     arm, train.seed, run["cold users"]["ndcg@10"], run["warm test"]["ndcg@10"], run["epochs"],
                     run["train_seconds"])
        results[arm] = {"runs": runs}
    for result in results.values():
        result["summary"] = summary(result["runs"])
    return {"segment_signal": signal, "data": data.summary(), "cold_user_cases": len(cold_cases),
            "user_features": spec.to_json() | {"categorical": {k: len(v) for k, v in spec.categorical.items()}},
            "results": results}


def summary(runs: list[dict]) -> dict[str, dict[str, float]]:
    out = {}
    for part in ("cold users", "warm test"):
        for key in ("ndcg@10", "hr@10"):
            values = np.array([run[part][key] for run in runs], dtype=float)
            out[f"{part} {key}"] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
    return out


def print_table(report: dict) -> None:
    header = f"{'signal':>6}  {'model':<34} {'cold-user NDCG@10':>18} {'cold HR@10':>16} {'warm NDCG@10':>16}"
    print(header)
    print("-" * len(header))
    for block in report["signals"]:
        for name, result in block["results"].items():
            s = result["summary"]
            cells = [f"{s[k]['mean']:.4f} ± {s[k]['std']:.4f}" for k in
                     ("cold users ndcg@10", "cold users hr@10", "warm test ndcg@10")]
            print(f"{block['segment_signal']:>6.2f}  {name:<34} {cells[0]:>18} {cells[1]:>16} {cells[2]:>16}")
        ratios = block["ratios"]
        print(f"{'':>6}  cold-user NDCG@10: with/without tower {ratios['tower']:.2f}x, "
              f"with tower/popularity {ratios['popularity']:.2f}x, "
              f"segment popularity/popularity {ratios['segment_vs_popularity']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", default="0,1", help="comma-separated synth segment_signal values")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--interactions", type=int, default=60_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cold-share", type=float, default=0.2, help="share of users held out whole")
    parser.add_argument("--market-seed", type=int, default=7)
    parser.add_argument("--max-length", type=int, default=50, help="model.max_length (history events read)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 epochs, a smaller market")
    parser.add_argument("--model-arms", default=",".join(ARMS), help="which neural arms to train (empty: baselines only)")
    parser.add_argument("--out", default=str(RESULTS / "profiles.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.users, args.interactions = 1, 3, 800, 15_000
    configure_logging()
    load_start = os.getloadavg()
    started = time.perf_counter()
    blocks = []
    for signal in (float(s) for s in args.signals.split(",")):
        block = run_signal(args, signal)
        s = block["results"]
        cold = {name: s[name]["summary"]["cold users ndcg@10"]["mean"] for name in s}
        cold.update({arm: float("nan") for arm in ARMS if arm not in cold})
        block["ratios"] = {"tower": cold[ARMS[0]] / max(cold[ARMS[1]], 1e-12),
                           "popularity": cold[ARMS[0]] / max(cold["popularity (today's cold answer)"], 1e-12),
                           "segment_vs_popularity": cold["segment popularity (one-line alternative)"]
                           / max(cold["popularity (today's cold answer)"], 1e-12)}
        blocks.append(block)
    report = {
        "protocol": "cold users held out whole: empty history, target = first event, full ranking; warm users "
                    "leave-one-out; user features through Feast (training_users, point in time at the first event)",
        "args": vars(args), "signals": blocks, "seconds": time.perf_counter() - started,
        "machine": {"cpus": os.cpu_count(), "torch_threads": args.threads, "platform": platform.platform(),
                    "load_average_start": load_start, "load_average_end": os.getloadavg()},
    }
    io.write_json(args.out, report)
    print_table(report)
    print(f"\nwritten {args.out} ({report['seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
