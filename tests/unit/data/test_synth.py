"""The synthetic marketplace: determinism, bounded memory, and the planted structure."""

from __future__ import annotations

import hashlib
import re
import tracemalloc
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest

from recaug.data.config import SynthConfig
from recaug.data.landing import list_batches
from recaug.data.splits import leave_one_out
from recaug.data.synth import generate_days, synthesize
from recaug.errors import ConfigError

SMALL = dict(n_users=300, n_items=600, n_interactions=12_000, n_days=20, n_topics=8)


@pytest.fixture(scope="module")
def market():
    days = list(generate_days(SynthConfig(**SMALL)))
    return {
        "days": days,
        "interactions": pd.concat([d.interactions for d in days], ignore_index=True),
        "items": pd.concat([d.items for d in days], ignore_index=True),
        "users": pd.concat([d.users for d in days], ignore_index=True),
    }


def tree_digest(root):
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def with_synth(settings, **fields):
    synth = settings.data.synth.model_copy(update=fields)
    return settings.model_copy(update={"data": settings.data.model_copy(update={"synth": synth})})


def test_same_seed_same_bytes_other_seed_other_data(settings, tmp_path):
    small = with_synth(settings, n_users=80, n_items=120, n_interactions=2_000, n_days=4)
    a = synthesize(small, tmp_path / "a")
    synthesize(small, tmp_path / "b")
    synthesize(with_synth(small, seed=8), tmp_path / "c")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c")
    assert a.interactions == 2_000 and a.items == 120 and a.users == 80 and a.batches_written == 4
    again = synthesize(small, tmp_path / "a")
    assert again.batches_written == 0 and again.batches_unchanged == 4
    assert list_batches(tmp_path / "a") == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]


def test_one_day_does_not_depend_on_how_many_days_are_generated():
    short = list(generate_days(SynthConfig(**{**SMALL, "n_days": 3, "n_interactions": 1_800})))
    assert [d.name for d in short] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    again = list(generate_days(SynthConfig(**{**SMALL, "n_days": 3, "n_interactions": 1_800})))
    for a, b in zip(short, again):
        pd.testing.assert_frame_equal(a.interactions, b.interactions)
        pd.testing.assert_frame_equal(a.items, b.items)


def _peak_bytes(n_days: int) -> int:
    config = SynthConfig(n_users=2_000, n_items=2_000, n_interactions=4_000 * n_days, n_days=n_days)
    tracemalloc.start()
    total = 0
    for day in generate_days(config):
        total += len(day.interactions)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert total == config.n_interactions
    return peak


def test_memory_is_bounded_by_the_day_not_the_total():
    # Same daily volume, 8x the days (and total rows): the peak must not grow with the total.
    small, large = _peak_bytes(4), _peak_bytes(32)
    assert large < 1.3 * small, (small, large)


def test_busiest_day_above_limit_is_refused():
    with pytest.raises(ConfigError, match="max_rows_per_day"):
        next(generate_days(SynthConfig(n_interactions=10_000, n_days=2, max_rows_per_day=1_000)))


def test_canonical_tables_and_referential_order(market):
    seen_items, seen_users = set(), set()
    for day in market["days"]:
        seen_items |= set(day.items["item_id"])
        seen_users |= set(day.users["user_id"])
        # every event names an item and a user listed in this batch or an earlier one
        assert set(day.interactions["item_id"]) <= seen_items
        assert set(day.interactions["user_id"]) <= seen_users
        assert (day.interactions["timestamp"].dt.strftime("%Y-%m-%d") == day.name).all()
        assert day.interactions["timestamp"].is_monotonic_increasing
    inter = market["interactions"]
    assert not inter.duplicated(["user_id", "item_id", "timestamp"]).any()
    assert set(inter["event_type"]) == {"view", "add_to_cart", "purchase"}
    assert market["items"]["item_id"].is_unique and len(market["items"]) == SMALL["n_items"]


def test_popularity_follows_a_power_law(market):
    counts = np.sort(market["interactions"]["item_id"].value_counts().to_numpy())[::-1]
    top_decile_share = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_decile_share > 0.35
    ranks = np.arange(1, len(counts) + 1)
    head = slice(0, len(counts) // 2)
    slope = np.polyfit(np.log(ranks[head]), np.log(counts[head]), 1)[0]
    assert slope < -0.5


def test_cold_items_arrive_late_and_have_few_events(market):
    items = market["items"].set_index("item_id")
    counts = market["interactions"]["item_id"].value_counts().reindex(items.index, fill_value=0)
    start = items["first_seen"].min()
    late = items["first_seen"] >= start + pd.Timedelta(days=14)
    initial = items["first_seen"] == start
    assert late.sum() >= 0.1 * len(items)
    assert counts[late].median() < counts[initial].median() / 2
    assert (counts[late] > 0).mean() > 0.5  # listed late, yet they do get some events


def test_sparse_users_exist(market):
    per_user = market["interactions"].groupby("user_id").size()
    assert ((per_user >= 2) & (per_user <= 5)).mean() > 0.1
    assert per_user.max() > 20 * per_user.median()


def test_time_of_day_and_weekly_rhythm(market):
    ts = market["interactions"]["timestamp"]
    by_hour = ts.dt.hour.value_counts().reindex(range(24), fill_value=0)
    assert by_hour[18:23].mean() > 3 * by_hour[2:6].mean()
    per_day = ts.dt.date.value_counts()
    weekday = pd.Series(pd.to_datetime(per_day.index).dayofweek, index=per_day.index)
    assert per_day[weekday >= 5].mean() > 1.15 * per_day[weekday < 5].mean()


def test_sequential_structure_beats_popularity(market):
    """A first-order next-item model (what sequential recommenders learn) must clearly beat MostPop."""
    split = leave_one_out(market["interactions"])
    history = pd.concat([split.train, split.valid]).sort_values(["user_id", "timestamp"], kind="stable")
    popular = split.train["item_id"].value_counts().index.tolist()
    follows = defaultdict(Counter)
    for _, seq in split.train.groupby("user_id", sort=False)["item_id"]:
        seq = seq.tolist()
        for a, b in zip(seq, seq[1:]):
            follows[a][b] += 1
    last = history.groupby("user_id")["item_id"].last()
    seen = history.groupby("user_id")["item_id"].agg(set)
    pop_hits = markov_hits = 0
    for user, target in zip(split.test["user_id"], split.test["item_id"]):
        fallback = [i for i in popular[:60] if i not in seen[user]]
        pop_hits += target in fallback[:10]
        nxt = [i for i, _ in follows[last[user]].most_common(20) if i not in seen[user]]
        markov_hits += target in (nxt + [i for i in fallback if i not in nxt])[:10]
    n = len(split.test)
    assert n > 150
    assert markov_hits / n > 3 * pop_hits / n, (markov_hits / n, pop_hits / n)


def test_text_predicts_the_topic_of_cold_items(market):
    """Bag-of-words centroids from early items classify the topic of late items: text helps cold start."""
    items = market["items"]
    topic = items["categories"].str.split("|").str[0]
    words = (items["title"] + " " + items["description"] + " " + items["tags"].str.replace("|", " ")).str.lower()
    tokens = words.map(lambda t: Counter(re.findall(r"[a-z]+", t)))
    early = items["first_seen"] == items["first_seen"].min()
    centroids = defaultdict(Counter)
    for tok, top in zip(tokens[early], topic[early]):
        centroids[top].update(tok)

    def predict(tok):
        return max(centroids, key=lambda t: sum(min(c, centroids[t][w]) for w, c in tok.items()) / sum(centroids[t].values()) ** 0.5)

    late = ~early
    accuracy = np.mean([predict(tok) == top for tok, top in zip(tokens[late], topic[late])])
    assert accuracy > 0.9


def test_consecutive_events_in_a_session_mostly_share_a_topic(market):
    inter = market["interactions"].sort_values(["user_id", "timestamp"], kind="stable")
    topic = inter["item_id"].map(market["items"].set_index("item_id")["categories"].str.split("|").str[0])
    same_user = inter["user_id"].eq(inter["user_id"].shift())
    close = inter["timestamp"].diff() < pd.Timedelta(minutes=15)
    pairs = same_user & close
    assert topic[pairs].eq(topic.shift()[pairs]).mean() > 0.7
