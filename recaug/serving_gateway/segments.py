"""Segment popularity: what a cold user's peers interact with, for users who declared attributes.

A segment is a set of declared attribute values: `region north`, or `region north, ages
25-34` (age bands are quantiles of the declared ages, so each holds about as many users).
Per segment, each item's share of the segment's interactions in the popularity window.
Only segments with at least `min_users` users active in the window are used; a user left
with none gets global popularity. Two ways to combine a user's attributes
(`segment_combination`, `off` disables segments):

- `sum` (default): the shares of the user's single-attribute segments summed: a broad
  segment (an age band) dilutes a sharp one (a region), but noise averages out.
- `most_specific`: the segment of the most of the user's attributes together that has
  enough support (region and age band before region alone, ...): sharpest when attributes
  carry taste, noisiest when they do not.

On the synthetic market (bench/bench_profiles.py, README "User tower") both beat global
popularity for cold users when attributes follow taste and lose to it when they do not.

Global popularity breaks ties and fills the ranking after the segment's items. All of this
is computed once (at gateway start, from the lake); a request is a few dictionary reads,
cached per combination of segments.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

if TYPE_CHECKING:
    import pandas as pd

    from recaug.settings import Settings

CATEGORICAL = ("region", "occupation", "gender")  # in the order a reason names them
AGE = "age"
GLOBAL_WEIGHT = 1e-3  # global share x this breaks ties and orders items no segment of the user has seen
Combination = Literal["most_specific", "sum"]


@dataclass(frozen=True)
class Segment:
    values: tuple[tuple[str, str], ...]  # (attribute, declared value or age band label "25-34"), in naming order
    users: int  # users of the segment with an interaction in the window
    interactions: int

    @property
    def words(self) -> str:
        return ", ".join(f"ages {value}" if attribute == AGE else f"{attribute} {value}"
                         for attribute, value in self.values)


@dataclass(frozen=True)
class SegmentPick:
    """Why one item is in a segment answer: the user's segment where it ranks best."""

    segment: Segment
    rank: int  # 1 = the segment's most interacted item
    interactions: int  # the item's interactions within the segment in the window


@dataclass
class SegmentRanking:
    """A ranking for one combination of a user's segments."""

    segments: list[Segment]
    items: list[tuple[str, float]]  # (item_id, score) best first; the score is the summed segment share
    picks: dict[str, SegmentPick] = field(default_factory=dict)


class SegmentPopularity:
    """Per-segment item counts of one window; `ranking(attributes)` for one user."""

    def __init__(self, events: "pd.DataFrame", users: "pd.DataFrame", min_users: int, age_bands: int,
                 items_kept: int, popular: Sequence[tuple[str, float]] = (), combination: Combination = "sum"):
        """`events`: user_id, item_id of the window; `users`: user_id and the declared attributes
        (curated users table); `popular`: the global ranking (item_id, count)."""
        import numpy as np
        import pandas as pd

        self.min_users = min_users
        self.combination = combination
        self.attributes = (*CATEGORICAL, AGE) if age_bands > 1 else CATEGORICAL
        total = sum(count for _, count in popular) or 1.0
        self.global_share = {item: count / total for item, count in popular}
        self.popular = list(popular)
        ages = pd.to_numeric(users["age"], errors="coerce") if AGE in users else pd.Series(dtype="float64")
        declared = ages.dropna()
        self.age_edges: list[float] = []
        if len(declared) and age_bands > 1:
            edges = np.unique(np.quantile(declared, np.linspace(0, 1, age_bands + 1)[1:-1]).round())
            self.age_edges = [float(e) for e in edges]
        self.age_labels = self._age_labels(declared)
        coded = pd.DataFrame({"user_id": users["user_id"].astype("string")})
        for attribute in CATEGORICAL:
            values = users[attribute] if attribute in users else pd.Series([None] * len(users), index=users.index)
            coded[attribute] = values.astype("string").str.strip().replace("", pd.NA).to_numpy()
        coded[AGE] = [self.age_band(a) for a in ages] if len(ages) else None
        coded = coded.drop_duplicates("user_id", keep="last")
        joined = events[["user_id", "item_id"]].astype({"user_id": "string", "item_id": "string"}).merge(
            coded, on="user_id", how="inner")
        self.segments: dict[tuple, Segment] = {}
        self.shares: dict[tuple, dict[str, float]] = {}
        self.ranks: dict[tuple, dict[str, tuple[int, int]]] = {}
        sizes = range(1, len(self.attributes) + 1) if combination == "most_specific" else (1,)
        for size in sizes:
            for attributes in itertools.combinations(self.attributes, size):
                known = joined.dropna(subset=list(attributes))
                for values, group in known.groupby(list(attributes), sort=True):
                    key = tuple(zip(attributes, (str(v) for v in values)))
                    users_in = int(group["user_id"].nunique())
                    if users_in < min_users:
                        continue  # never used: not worth keeping
                    counts = group.groupby("item_id").size().sort_values(ascending=False, kind="stable")
                    self.segments[key] = Segment(key, users_in, len(group))
                    kept = counts.iloc[:items_kept]
                    self.shares[key] = {str(item): count / len(group) for item, count in kept.items()}
                    self.ranks[key] = {str(item): (rank, int(count)) for rank, (item, count)
                                       in enumerate(kept.items(), start=1)}
        self._cache: dict[tuple, SegmentRanking] = {}

    def _age_labels(self, declared: "pd.Series") -> list[str]:
        """Band labels from the ages declared in each band ("25-34"; "66+" for the open last band)."""
        import numpy as np

        bands = np.searchsorted(self.age_edges, declared.to_numpy(dtype=float), side="right")
        labels = []
        for band in range(len(self.age_edges) + 1):
            inside = declared.to_numpy(dtype=float)[bands == band]
            low = int(inside.min()) if len(inside) else int(([0.0] + self.age_edges)[band])
            high = int(inside.max()) if len(inside) else low
            labels.append(f"{low}+" if band == len(self.age_edges) and band > 0 else f"{low}-{high}")
        return labels

    def age_band(self, age: Any) -> str | None:
        """The band label of a declared age; None when no age was given."""
        try:
            age = float(age)
        except (TypeError, ValueError):
            return None
        return None if age != age else self.age_labels[bisect.bisect_right(self.age_edges, age)]

    def segments_of(self, attributes: Mapping[str, Any]) -> list[Segment]:
        """The user's segments with enough support: the most specific one, or (`sum`) every
        single-attribute one, in the order a reason names them."""
        declared = []
        for attribute in self.attributes:
            value = attributes.get(attribute)
            value = self.age_band(value) if attribute == AGE else (None if value is None else str(value).strip())
            if value:
                declared.append((attribute, value))
        if self.combination == "sum":
            return [self.segments[(pair,)] for pair in declared if (pair,) in self.segments]
        for size in range(len(declared), 0, -1):
            for values in itertools.combinations(declared, size):
                if values in self.segments:
                    return [self.segments[values]]
        return []

    def ranking(self, attributes: Mapping[str, Any]) -> SegmentRanking | None:
        """The user's segment ranking (global items after the segments'); None when no segment
        of theirs has enough support (the caller answers with global popularity)."""
        segments = self.segments_of(attributes)
        if not segments:
            return None
        key = tuple(s.values for s in segments)
        if key not in self._cache:
            scores: dict[str, float] = {}
            picks: dict[str, SegmentPick] = {}
            for segment in segments:
                for item, share in self.shares[segment.values].items():
                    scores[item] = scores.get(item, 0.0) + share
                    rank, count = self.ranks[segment.values][item]
                    if item not in picks or rank < picks[item].rank:
                        picks[item] = SegmentPick(segment, rank, count)
            for item, share in self.global_share.items():
                scores[item] = scores.get(item, 0.0) + GLOBAL_WEIGHT * share
            items = sorted(scores.items(), key=lambda pair: -pair[1])
            self._cache[key] = SegmentRanking(segments, items, picks)
        return self._cache[key]


def segment_popularity(settings: "Settings", window_days: int, popular: Sequence[tuple[str, float]]
                       ) -> SegmentPopularity | None:
    """Segments of the lake's curated interactions in the popularity window (the window of
    `popular_items`) joined to the curated users table; None without either table or when
    segments are off."""
    import pandas as pd

    from recaug import io

    config = settings.deploy.gateway
    if config.segment_combination == "off":
        return None
    if not io.exists(settings.lake.interactions) or not io.exists(settings.lake.users):
        return None
    events = io.read_parquet(settings.lake.interactions, columns=["user_id", "item_id", "timestamp"])
    users = io.read_parquet(settings.lake.users)
    if events.empty or users.empty:
        return None
    recent = events[events["timestamp"] > events["timestamp"].max() - pd.Timedelta(days=window_days)]
    return SegmentPopularity(recent, users, config.segment_min_users, config.segment_age_bands,
                             config.segment_items_kept, popular, config.segment_combination)
