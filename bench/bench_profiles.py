"""Profiles/attributes benchmark: does the user tower help users the model has never seen?

Protocol: a synthetic marketplace (recaug.data.synth) with user attributes; a share of its
users is held out whole (cold users: no event in training). The rest trains FusionSASRec
(leave-one-out for the warm test). Each cold user is one case: empty history, target =
their first event, answered at its time, full ranking. User attributes reach the trainer
the way `recaug train` reads them: features built into a Feast store in a temporary lake,
then the point-in-time join of service `training_users` at each user's first event.

Arms, same data, same seeds, same training (first events are targets from an empty
history in both): the model with the user tower vs without it; global popularity (what
the gateway answers a user without history or attributes) and segment popularity, the
gateway's own answer to a cold user who declared attributes (recaug.serving_gateway.segments,
both of its `segment_combination`s, with the gateway's default support threshold and
popularity window). Markets: `segment_signal` 0 (attributes independent of taste: the honest
control, no model can gain) and the signals given (region and age band follow the user's
main topic for that share of users).

    .venv/bin/python bench/bench_profiles.py [--seeds 3] [--signals 0,1] [--epochs 40] [--quick]
    .venv/bin/python bench/bench_profiles.py --model-arms ""    # the popularity baselines only, in seconds
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
COMBINATIONS = ("most_specific", "sum")  # the gateway's deploy.gateway.segment_combination values


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
    from recaug.train.user_features import user_feature_timeline

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
    data.user_features = user_feature_timeline(settings, data, cold_cases)
    log.info("signal %.2f: %s, %d cold-user cases, features in %.1fs", signal, data.summary(), len(cold_cases),
             time.perf_counter() - started)
    return data, cold_cases


class ServedSegments:
    """The gateway's cold answer for users who declared attributes (recaug.serving_gateway.segments,
    with the gateway's config): segments counted over warm users' fitted events in the gateway's
    popularity window, the user's attributes as Feast gives them (decoded from the tower's
    codes), global popularity of the same window filling the ranking."""

    padding_invariant = True
    training = False

    def __init__(self, data, spec, combination: str):
        import torch

        from recaug.deploy.config import GatewayConfig
        from recaug.serving_gateway.segments import SegmentPopularity

        config = GatewayConfig(segment_combination=combination)
        self.name = f"segment popularity ({combination})"
        self.user_spec = spec
        fitted = [(user, data.user_items[u][:end], data.user_times[u][:end])
                  for u, (user, end) in enumerate(zip(data.users, data.fit_end.tolist())) if end]
        events = pd.DataFrame({
            "user_id": np.concatenate([np.repeat(user, len(items)) for user, items, _ in fitted]),
            "item_id": [data.vocab[i] for _, items, _ in fitted for i in items.tolist()],
            "timestamp": np.concatenate([times for _, _, times in fitted]),
        })
        window = config.popular_window_days * 86400
        events = events[events["timestamp"] > events["timestamp"].max() - window]
        popular = [(str(i), float(c)) for i, c in
                   events.groupby("item_id").size().sort_values(ascending=False, kind="stable").items()]
        users = data.user_features.latest(len(data.users)).drop(columns=["profile_embedding"], errors="ignore")
        users = users.assign(user_id=data.users)
        self.segments = SegmentPopularity(events, users, config.segment_min_users, config.segment_age_bands,
                                          config.segment_items_kept, popular, combination)
        self.index = {item: i for i, item in enumerate(data.vocab) if item is not None}
        self.global_row = self._row(popular)
        self.rows: dict[tuple, np.ndarray] = {}
        self.answered = {"segment": 0, "global": 0}
        self._torch = torch

    def _row(self, ranked) -> np.ndarray:
        row = np.zeros(len(self.index) + 1)
        for position, (item, _) in enumerate(ranked):
            row[self.index[item]] = len(ranked) - position  # the served order, whatever the scores
        return row

    def attributes(self, user) -> list[dict]:
        """Per row, the declared attributes the tower's codes stand for."""
        codes, numbers = user.categorical.cpu().numpy(), user.numeric.cpu().numpy()
        rows = []
        for r in range(len(codes)):
            found = {name: values[codes[r, c] - 1] for c, (name, values) in enumerate(self.user_spec.categorical.items())
                     if codes[r, c] > 0}
            found.update({name: float(numbers[r, c]) for c, name in enumerate(self.user_spec.numeric)
                          if not np.isnan(numbers[r, c])})
            rows.append(found)
        return rows

    def score(self, history, timestamps, now, user=None):
        rows = []
        for attributes in self.attributes(user):
            ranking = self.segments.ranking(attributes)
            self.answered["segment" if ranking else "global"] += 1
            if ranking is None:
                rows.append(self.global_row)
                continue
            key = tuple(s.values for s in ranking.segments)
            if key not in self.rows:
                self.rows[key] = self._row(ranking.items)
            rows.append(self.rows[key])
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
    overrides = {"cold_user_weight": args.cold_user_weight, "user_tower_weight_decay": args.tower_weight_decay}
    base_train = TrainConfig(epochs=args.epochs, num_threads=args.threads, first_event_targets=True,
                             **{key: value for key, value in overrides.items() if value is not None})
    model_base = ModelConfig(max_length=args.max_length)
    popular = MostPop.fit(data)
    results = {"global popularity (no attributes)": {"runs": [{
        "cold users": metrics(evaluate_recommender(popular, cold_cases, data, base_train, model_base.max_length)),
        "warm test": metrics(evaluate_recommender(popular, data.test, data, base_train, model_base.max_length)),
    }]}}
    spec = UserFeatureSpec.fit(data.user_features.first_known())
    for combination in COMBINATIONS:
        segments = ServedSegments(data, spec, combination)
        results[segments.name] = {"runs": [{
            "cold users": metrics(evaluate_recommender(segments, cold_cases, data, base_train, model_base.max_length)),
            "warm test": metrics(evaluate_recommender(segments, data.test, data, base_train, model_base.max_length)),
        }]}
        log.info("signal %.2f %s: %d answers from a segment, %d from global popularity (no segment with enough "
                 "users)", signal, segments.name, segments.answered["segment"], segments.answered["global"])
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
              f"with tower/popularity {ratios['popularity']:.2f}x, " + ", ".join(
                  f"segment popularity ({c})/popularity {ratios[f'segment_{c}_vs_popularity']:.2f}x" for c in COMBINATIONS))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", default="0,1", help="comma-separated synth segment_signal values")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--users", type=int, default=1500)
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--interactions", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--cold-share", type=float, default=0.2, help="share of users held out whole")
    parser.add_argument("--market-seed", type=int, default=7)
    parser.add_argument("--max-length", type=int, default=20, help="model.max_length (history events read)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cold-user-weight", type=float, default=None,
                        help="train.cold_user_weight of the tower arm (default: the TrainConfig default)")
    parser.add_argument("--tower-weight-decay", type=float, default=None,
                        help="train.user_tower_weight_decay (default: the TrainConfig default)")
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
                           "popularity": cold[ARMS[0]] / max(cold["global popularity (no attributes)"], 1e-12),
                           **{f"segment_{c}_vs_popularity": cold[f"segment popularity ({c})"]
                              / max(cold["global popularity (no attributes)"], 1e-12) for c in COMBINATIONS}}
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
