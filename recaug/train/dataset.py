"""From canonical tables to what the models read: vocabulary, per-user sequences, splits,
item side-features, training windows and evaluation cases.

Each user's observed events are sorted by timestamp with ties kept in input order.
Splits (one held-out target per case, full-catalogue ranking later):

- leave_one_out: the last event is the test target, the one before it the validation
  target, the rest is fitted (users with fewer than 3 events are fitted only);
- temporal: events before a global cut (a timestamp quantile) are history; each user's
  first event after the cut is the test target, the last one before it validation.

Augmented interactions join the fitted part of a user's sequence only (never history
used for evaluation, never a (user, target) pair that is evaluated), weighted and
flagged so the trainer can down-weight and prune them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recaug.data.schemas import AUGMENTED, MULTI_VALUE_SEPARATOR
from recaug.data import splits
from recaug.errors import RecaugError

if TYPE_CHECKING:
    from recaug.train.user_features import UserFeatureTimeline

log = logging.getLogger(__name__)


class DatasetError(RecaugError):
    """The training tables cannot form sequences (empty, unknown ids, bad embeddings)."""


def unix_seconds(values: pd.Series) -> np.ndarray:
    """UTC timestamps (datetime64[ns, UTC]) -> int64 Unix seconds."""
    return (values.astype("int64") // 1_000_000_000).to_numpy(dtype=np.int64)


@dataclass
class EvalCases:
    """One held-out target per row, with the full chronological history before it."""

    users: np.ndarray  # int64 [M], index into SequenceData.users
    histories: list[np.ndarray]  # item indices, oldest first
    history_times: list[np.ndarray]  # Unix seconds
    targets: np.ndarray  # int64 [M]
    now: np.ndarray  # int64 [M]: the target's timestamp = the request time

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, rows: np.ndarray) -> "EvalCases":
        return EvalCases(self.users[rows], [self.histories[i] for i in rows],
                         [self.history_times[i] for i in rows], self.targets[rows], self.now[rows])

    def batches(self, batch_size: int, max_length: int, trim: bool = True):
        """Yield (rows, history, timestamps, now, targets, seen) numpy arrays, history/timestamps
        holding the newest `max_length` events left-padded. With `trim` (for models that ignore left
        padding) cases go in order of history length and each batch is padded only to its longest
        history, since padding costs as much as events. `seen` holds every history item (0-padded);
        `rows` index the cases of the batch."""
        by_length = np.argsort([len(h) for h in self.histories], kind="stable") if trim else np.arange(len(self))
        for start in range(0, len(self), batch_size):
            rows = by_length[start:start + batch_size]
            longest = max(1, max(len(self.histories[i]) for i in rows))
            length = min(longest, max_length) if trim else max_length
            history = left_pad([self.histories[i][-length:] for i in rows], length)
            times = left_pad([self.history_times[i][-length:] for i in rows], length)
            seen = left_pad([self.histories[i] for i in rows], longest)
            yield rows, history, times, self.now[rows], self.targets[rows], seen


@dataclass
class TrainingWindows:
    """Fixed-length training windows: inputs[t] predicts targets[t] at time target_times[t]."""

    inputs: np.ndarray  # int64 [W, L], left-padded
    input_times: np.ndarray  # int64 [W, L]
    targets: np.ndarray  # int64 [W, L], 0 where there is no target
    target_times: np.ndarray  # int64 [W, L]
    weights: np.ndarray  # float32 [W, L]
    augmented: np.ndarray  # bool [W, L]
    users: np.ndarray  # int64 [W], index into SequenceData.users
    negatives: np.ndarray | None = None  # int64 [W]: the owner's LLM-proposed hard negative (0 = none)

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass
class SequenceData:
    vocab: list[str | None]  # index -> item_id, index 0 = padding (None)
    users: list[str]
    user_items: list[np.ndarray]
    user_times: list[np.ndarray]
    fit_end: np.ndarray  # events [0, fit_end) of each user are fitted
    valid: EvalCases
    test: EvalCases
    train_counts: np.ndarray  # int64 [N+1], observed fitted events per item
    text: np.ndarray  # float32 [N+1, D] (D = 0 without embeddings)
    categories: np.ndarray  # int64 [N+1, C]
    brand: np.ndarray  # int64 [N+1]
    price_bucket: np.ndarray  # int64 [N+1]
    num_categories: int
    num_brands: int
    # int64 [N+1, K]: the LLM's item attributes as "key=value" ids (K = 0 without them)
    llm_attributes: np.ndarray | None = None
    num_llm_attributes: int = 1
    augmented: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    # user -> the item the LLM said they would least like (augment's pick negative), for hard-negative training
    hard_negatives: dict[int, int] = field(default_factory=dict)
    split: str = "leave_one_out"
    # raw user features (attributes, profile_embedding) as known at each time the model answers
    user_features: "UserFeatureTimeline | None" = None
    valid_cases_drawn_from: int | None = None  # validation cases before `limit_validation` drew a sample

    def limit_validation(self, max_cases: int | None) -> None:
        """Keep at most `max_cases` validation cases: the users whose id hashes lowest (blake2b), so
        the same users stay drawn across runs and as the data grows, whatever the row order."""
        if max_cases is None or len(self.valid) <= max_cases:
            return
        keys = np.fromiter((int.from_bytes(hashlib.blake2b(self.users[u].encode(), digest_size=8).digest(), "big")
                            for u in self.valid.users), dtype=np.uint64, count=len(self.valid))
        self.valid_cases_drawn_from = len(self.valid)
        self.valid = self.valid.subset(np.sort(np.argpartition(keys, max_cases - 1)[:max_cases]))

    @property
    def num_items(self) -> int:
        return len(self.vocab) - 1

    def item_features(self):
        """The side information as torch tensors for `ItemFeatures` (models import torch lazily)."""
        import torch

        from recaug.models.layers import ItemFeatures

        return ItemFeatures(
            text=torch.from_numpy(self.text).float(),
            categories=torch.from_numpy(self.categories),
            brand=torch.from_numpy(self.brand),
            price_bucket=torch.from_numpy(self.price_bucket),
            train_count=torch.from_numpy(self.train_counts),
            num_categories=self.num_categories,
            num_brands=self.num_brands,
            llm_attributes=torch.from_numpy(self.llm_attributes) if self.llm_attributes is not None else None,
            num_llm_attributes=self.num_llm_attributes,
        )

    def fitted_events(self) -> int:
        return int(self.fit_end.sum())

    def summary(self) -> dict[str, int | str]:
        return {
            "users": len(self.users), "items": self.num_items, "fitted_events": self.fitted_events(),
            "augmented_events": int(sum(len(a[0]) for a in self.augmented.values())),
            "hard_negative_users": len(self.hard_negatives),
            "valid_cases": len(self.valid), "test_cases": len(self.test), "split": self.split,
            "text_dim": int(self.text.shape[1]),
            **({"valid_cases_drawn_from": self.valid_cases_drawn_from} if self.valid_cases_drawn_from else {}),
        }

    def training_windows(self, max_length: int, augmented_weight: float = 0.0,
                         windows_per_user: int = 0, first_event_targets: bool = False) -> TrainingWindows:
        """Cut each user's fitted sequence into windows so that every event after the first
        is a target exactly once (or only the newest `windows_per_user` windows, to bound
        heavy users); augmented events (when weighted) are merged in by time. With
        `first_event_targets` the first event is a target too, predicted from an empty
        history: what a model must do for a user who has none yet."""
        rows: list[tuple] = []
        owners: list[int] = []
        for u in range(len(self.users)):
            end = int(self.fit_end[u])
            items, times = self.user_items[u][:end], self.user_times[u][:end]
            weights = np.ones(end, dtype=np.float32)
            is_aug = np.zeros(end, dtype=bool)
            if augmented_weight > 0 and u in self.augmented:
                a_items, a_times, a_conf = self.augmented[u]
                items = np.concatenate([items, a_items])
                times = np.concatenate([times, a_times])
                weights = np.concatenate([weights, (augmented_weight * a_conf).astype(np.float32)])
                is_aug = np.concatenate([is_aug, np.ones(len(a_items), dtype=bool)])
                order = np.argsort(times, kind="stable")
                items, times, weights, is_aug = items[order], times[order], weights[order], is_aug[order]
            if first_event_targets and len(items):  # a padding event before the first one
                items, times = np.concatenate([[0], items]), np.concatenate([[0], times])
                weights, is_aug = np.concatenate([[1.0], weights]).astype(np.float32), np.concatenate([[False], is_aug])
            stops = range(len(items), 1, -max_length)
            for stop in stops[:windows_per_user] if windows_per_user else stops:
                start = max(0, stop - max_length - 1)
                rows.append((items[start:stop], times[start:stop], weights[start:stop], is_aug[start:stop]))
                owners.append(u)
        if not rows:
            raise DatasetError("no user has two or more fitted events: nothing to train on")
        return TrainingWindows(
            inputs=left_pad([r[0][:-1] for r in rows], max_length),
            input_times=left_pad([r[1][:-1] for r in rows], max_length),
            targets=left_pad([r[0][1:] for r in rows], max_length),
            target_times=left_pad([r[1][1:] for r in rows], max_length),
            weights=left_pad([r[2][1:] for r in rows], max_length, dtype=np.float32),
            augmented=left_pad([r[3][1:] for r in rows], max_length, dtype=bool),
            users=np.asarray(owners, dtype=np.int64),
            negatives=np.asarray([self.hard_negatives.get(u, 0) for u in owners], dtype=np.int64),
        )

    def add_new_users(self, interactions: pd.DataFrame) -> EvalCases:
        """Users the model has never seen: appended with no fitted events; each one's first
        event (on a known item) becomes a case with an empty history, answered at its time."""
        ordered = splits.chronological(interactions)
        firsts = ordered.drop_duplicates("user_id", keep="first")
        index = {item_id: i for i, item_id in enumerate(self.vocab) if item_id is not None}
        known = set(self.users)
        firsts = firsts[firsts["item_id"].astype(str).isin(index) & ~firsts["user_id"].astype(str).isin(known)]
        start = len(self.users)
        self.users.extend(firsts["user_id"].astype(str))
        self.user_items.extend(np.zeros(0, dtype=np.int64) for _ in range(len(firsts)))
        self.user_times.extend(np.zeros(0, dtype=np.int64) for _ in range(len(firsts)))
        self.fit_end = np.concatenate([self.fit_end, np.zeros(len(firsts), dtype=self.fit_end.dtype)])
        return EvalCases(
            users=np.arange(start, len(self.users), dtype=np.int64),
            histories=[np.zeros(0, dtype=np.int64) for _ in range(len(firsts))],
            history_times=[np.zeros(0, dtype=np.int64) for _ in range(len(firsts))],
            targets=firsts["item_id"].astype(str).map(index).to_numpy(dtype=np.int64),
            now=unix_seconds(firsts["timestamp"]),
        )


def left_pad(rows: list[np.ndarray], length: int, dtype=np.int64) -> np.ndarray:
    out = np.zeros((len(rows), length), dtype=dtype)
    for i, row in enumerate(rows):
        if len(row):
            out[i, length - len(row):] = row[-length:]
    return out


def build_sequences(interactions: pd.DataFrame, items: pd.DataFrame | None = None,
                    item_embeddings: pd.DataFrame | None = None, augmented: pd.DataFrame | None = None,
                    item_attributes: pd.DataFrame | None = None, *,
                    split: str = "leave_one_out", temporal_cut_quantile: float = 0.9,
                    max_categories: int = 8, price_buckets: int = 10) -> SequenceData:
    """Canonical tables (recaug.data.schemas) -> SequenceData. `interactions` rows marked
    augmented are moved to the augmented set; `augmented` adds more such rows. `item_attributes`:
    item_id + the `llm_*` columns of features/item_content (recaug.features.enrichment)."""
    if interactions.empty:
        raise DatasetError("curated interactions are empty: nothing to train on")
    source = interactions["source"] if "source" in interactions else pd.Series("observed", index=interactions.index)
    observed = interactions[source.fillna("observed") != AUGMENTED].reset_index(drop=True)
    aug_frames = [interactions[source == AUGMENTED]] + ([augmented] if augmented is not None else [])
    aug = pd.concat(aug_frames, ignore_index=True) if any(len(f) for f in aug_frames) else None

    catalogue = set(observed["item_id"].astype(str))
    if items is not None and len(items):
        catalogue |= set(items["item_id"].astype(str))
    vocab: list[str | None] = [None, *sorted(catalogue)]
    index = {item_id: i for i, item_id in enumerate(vocab) if item_id is not None}

    ordered = splits.chronological(observed)
    user_codes, users = pd.factorize(ordered["user_id"].astype(str), sort=True)
    item_idx = ordered["item_id"].astype(str).map(index).to_numpy(dtype=np.int64)
    times = unix_seconds(ordered["timestamp"])
    bounds = np.searchsorted(user_codes, np.arange(len(users) + 1))
    user_items = [item_idx[bounds[u]:bounds[u + 1]] for u in range(len(users))]
    user_times = [times[bounds[u]:bounds[u + 1]] for u in range(len(users))]

    fit_end, valid_at, test_at = _split_points(observed, users, split, temporal_cut_quantile)
    valid = _cases(user_items, user_times, valid_at)
    test = _cases(user_items, user_times, test_at)
    train_counts = np.zeros(len(vocab), dtype=np.int64)
    for u, end in enumerate(fit_end):
        np.add.at(train_counts, user_items[u][:end], 1)

    categories, num_categories, brand, num_brands, price = _attributes(items, index, max_categories, price_buckets)
    data = SequenceData(
        vocab=vocab, users=list(users), user_items=user_items, user_times=user_times, fit_end=fit_end,
        valid=valid, test=test, train_counts=train_counts, text=_text_matrix(item_embeddings, index),
        categories=categories, brand=brand, price_bucket=price, num_categories=num_categories,
        num_brands=num_brands, split=split,
    )
    if item_attributes is not None and len(item_attributes):
        data.llm_attributes, data.num_llm_attributes = _llm_attributes(item_attributes, index)
    if aug is not None and len(aug):
        data.augmented = _augmented(aug, data, index, valid_at, test_at)
        data.hard_negatives = _hard_negatives(aug, data, index)
    log.info("sequences: %s", data.summary())
    return data


def _split_points(observed: pd.DataFrame, users: pd.Index, split: str, quantile: float):
    """Per user: events fitted [0, fit_end), validation and test target positions (-1 = none),
    taken from `recaug.data.splits` so every stage splits the same way."""

    def per_user(frame: pd.DataFrame) -> np.ndarray:
        counts = frame["user_id"].astype(str).value_counts()
        return counts.reindex(users, fill_value=0).to_numpy(dtype=np.int64)

    if split == "leave_one_out":
        parts = splits.leave_one_out(observed)
        fit_end = per_user(parts.train)
        valid_at = np.where(per_user(parts.valid) > 0, fit_end, -1)
        test_at = np.where(per_user(parts.test) > 0, fit_end + 1, -1)
    elif split == "temporal":
        parts = splits.temporal_cut(observed, test_quantile=quantile)
        before, after = per_user(parts.train), per_user(parts.test)
        # the last event before the cut validates; the first after it is the test target
        fit_end = np.where(before >= 2, before - 1, before)
        valid_at = np.where(before >= 2, before - 1, -1)
        test_at = np.where((before >= 1) & (after > 0), before, -1)
    else:
        raise DatasetError(f"unknown split {split!r}; expected leave_one_out or temporal")
    return fit_end, valid_at, test_at


def _cases(user_items, user_times, at: np.ndarray) -> EvalCases:
    users = np.flatnonzero(at >= 0)
    return EvalCases(
        users=users.astype(np.int64),
        histories=[user_items[u][:at[u]] for u in users],
        history_times=[user_times[u][:at[u]] for u in users],
        targets=np.array([user_items[u][at[u]] for u in users], dtype=np.int64),
        now=np.array([user_times[u][at[u]] for u in users], dtype=np.int64),
    )


def _text_matrix(embeddings: pd.DataFrame | None, index: dict[str, int]) -> np.ndarray:
    if embeddings is None or embeddings.empty:
        return np.zeros((len(index) + 1, 0), dtype=np.float32)
    vectors = embeddings["embedding"].to_list()
    lengths = {len(v) for v in vectors}
    if len(lengths) != 1:
        raise DatasetError(f"embeddings/items.parquet: column 'embedding' has mixed lengths {sorted(lengths)}")
    matrix = np.zeros((len(index) + 1, lengths.pop()), dtype=np.float32)
    known = embeddings["item_id"].astype(str).map(index)
    rows = known.notna().to_numpy()
    matrix[known[rows].astype(np.int64).to_numpy()] = np.asarray(vectors, dtype=np.float32)[rows]
    missing = len(index) - int(rows.sum())
    if missing:
        log.warning("embeddings/items.parquet: %d of %d items have no text embedding (zeros used)", missing, len(index))
    return matrix


def _attributes(items: pd.DataFrame | None, index: dict[str, int], max_categories: int, price_buckets: int):
    n = len(index) + 1
    categories = np.zeros((n, max_categories), dtype=np.int64)
    brand = np.zeros(n, dtype=np.int64)
    price = np.zeros(n, dtype=np.int64)
    if items is None or items.empty:
        return categories, 1, brand, 1, price
    rows = items["item_id"].astype(str).map(index).to_numpy(dtype=np.int64)
    cat_lists = [
        [c.strip() for c in str(v).split(MULTI_VALUE_SEPARATOR) if c.strip()] if isinstance(v, str) else []
        for v in items.get("categories", pd.Series([None] * len(items)))
    ]
    cat_vocab = {c: i + 1 for i, c in enumerate(sorted({c for cats in cat_lists for c in cats}))}
    for row, cats in zip(rows, cat_lists):
        ids = [cat_vocab[c] for c in cats[:max_categories]]
        categories[row, :len(ids)] = ids
    brands = items.get("brand", pd.Series([None] * len(items))).astype("string")
    brand_vocab = {b: i + 1 for i, b in enumerate(sorted(brands.dropna().unique()))}
    brand[rows] = brands.map(brand_vocab).fillna(0).astype(np.int64).to_numpy()
    prices = pd.to_numeric(items.get("price", pd.Series([None] * len(items))), errors="coerce").to_numpy(dtype=float)
    known = ~np.isnan(prices)
    if known.any():
        edges = np.quantile(prices[known], np.linspace(0, 1, price_buckets + 1)[1:-1])
        price[rows[known]] = np.searchsorted(edges, prices[known], side="right") + 1
    return categories, max(len(cat_vocab), 1), brand, max(len(brand_vocab), 1), price


def _augmented(aug: pd.DataFrame, data: SequenceData, index: dict[str, int], valid_at, test_at):
    """Augmented rows per user: known users/items only, timed no later than just before the
    user's first evaluated event, and never the item of an evaluated target."""
    user_index = {u: i for i, u in enumerate(data.users)}
    users = aug["user_id"].astype(str).map(user_index)
    items = aug["item_id"].astype(str).map(index)
    usable = users.notna() & items.notna()
    dropped_unknown = int((~usable).sum())
    confidence = aug["confidence"].fillna(1.0) if "confidence" in aug else pd.Series(1.0, index=aug.index)
    frame = pd.DataFrame({
        "u": users[usable].astype(np.int64), "i": items[usable].astype(np.int64),
        "t": unix_seconds(aug.loc[usable, "timestamp"]), "c": confidence[usable].clip(0, 1).astype(np.float32),
    })
    result: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    dropped_leak = 0
    for u, group in frame.groupby("u", sort=True):
        first_eval = [a for a in (valid_at[u], test_at[u]) if a >= 0]
        keep = np.ones(len(group), dtype=bool)
        times = group["t"].to_numpy()
        if first_eval:
            evaluated = {int(data.user_items[u][a]) for a in first_eval}
            keep = ~group["i"].isin(evaluated).to_numpy()
            # generation time is arbitrary: an augmented event never lands after the fitted history
            times = np.minimum(times, data.user_times[u][min(first_eval)] - 1)
        dropped_leak += int((~keep).sum())
        if keep.any():
            result[int(u)] = (group["i"].to_numpy()[keep], times[keep], group["c"].to_numpy()[keep])
    if dropped_unknown or dropped_leak:
        log.warning("augmented interactions: dropped %d with unknown user/item and %d naming an evaluated target",
                    dropped_unknown, dropped_leak)
    return result


def _llm_attributes(frame: pd.DataFrame, index: dict[str, int]) -> tuple[np.ndarray, int]:
    """[N+1, K] ids of "column=value" (0 = none), one slot per `llm_*` column; vocabulary size."""
    columns = [c for c in frame.columns if c.startswith("llm_") and c != "llm_description"]
    rows = frame["item_id"].astype(str).map(index)
    known = rows.notna().to_numpy()
    values = frame.loc[known, columns].fillna("").astype(str)
    tokens = sorted({f"{c}={v}" for c in columns for v in values[c] if v})
    vocab = {t: i + 1 for i, t in enumerate(tokens)}
    matrix = np.zeros((len(index) + 1, len(columns) if tokens else 0), dtype=np.int64)
    if tokens:
        positions = rows[known].astype(np.int64).to_numpy()
        for k, column in enumerate(columns):
            matrix[positions, k] = [vocab.get(f"{column}={v}", 0) if v else 0 for v in values[column]]
    log.info("LLM item attributes: %d distinct values on %d items", len(tokens), int((matrix > 0).any(axis=1).sum()))
    return matrix, max(len(tokens), 1)


def _hard_negatives(aug: pd.DataFrame, data: SequenceData, index: dict[str, int]) -> dict[int, int]:
    """Per user, the pick task's negative of the user's most confident augmented row (known
    users and items only). Unlike augmented positives, a negative that happens to be an
    evaluated target is kept: dropping it would use the held-out label to help the model."""
    if "negative_item_id" not in aug:
        return {}
    user_index = {u: i for i, u in enumerate(data.users)}
    frame = pd.DataFrame({
        "u": aug["user_id"].astype(str).map(user_index),
        "n": aug["negative_item_id"].astype("string").map(index),
        "c": aug["confidence"].fillna(1.0).to_numpy() if "confidence" in aug else 1.0,
    }).dropna(subset=["u", "n"])
    best = frame.sort_values("c", ascending=False, kind="stable").drop_duplicates("u")
    return {int(u): int(n) for u, n in zip(best["u"], best["n"])}
