"""Segment popularity: what a cold user's peers interact with, for users who declared attributes.

A segment is one declared attribute value: `region north`, `occupation nurse`, `gender f`,
or an age band (`ages 25-34`; bands are quantiles of the declared ages, so each holds about
as many users). Single attributes, not their combinations: combinations split users into
segments too small to count on, and a user with one attribute given is still placed.

Per segment, each item's share of the segment's interactions in the popularity window.
A user's ranking sums the shares of the segments of the attributes they gave whose
support (users with an interaction in the window) reaches `min_users`; smaller segments
are not used, and a user with none left gets global popularity. Global popularity breaks
ties and fills the ranking after the segments' items. All of this is computed once (at
gateway start, from the lake) and a request is a few dictionary reads, cached per
combination of segments.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    import pandas as pd

    from recaug.settings import Settings

CATEGORICAL = ("region", "occupation", "gender")  # in the order a reason names them
AGE = "age"
GLOBAL_WEIGHT = 1e-3  # global share x this breaks ties and orders items no segment of the user has seen


@dataclass(frozen=True)
class Segment:
    attribute: str
    value: str  # the declared value, or the age band's label ("25-34")
    users: int  # users of the segment with an interaction in the window
    interactions: int

    @property
    def words(self) -> str:
        return f"ages {self.value}" if self.attribute == AGE else f"{self.attribute} {self.value}"


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
                 items_kept: int, popular: Sequence[tuple[str, float]] = ()):
        """`events`: user_id, item_id of the window; `users`: user_id and the declared attributes
        (curated users table); `popular`: the global ranking (item_id, count)."""
        import numpy as np
        import pandas as pd

        self.min_users = min_users
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
        self.segments: dict[tuple[str, str], Segment] = {}
        self.shares: dict[tuple[str, str], dict[str, float]] = {}
        self.ranks: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
        for attribute in self.attributes:
            known = joined.dropna(subset=[attribute])
            for value, group in known.groupby(attribute, sort=True):
                counts = group.groupby("item_id").size().sort_values(ascending=False, kind="stable")
                key = (attribute, str(value))
                self.segments[key] = Segment(attribute, str(value), int(group["user_id"].nunique()), len(group))
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
        """The user's segments with enough support, in the order a reason names them."""
        found = []
        for attribute in self.attributes:
            value = attributes.get(attribute)
            if value is None:
                continue
            value = self.age_band(value) if attribute == AGE else str(value).strip()
            segment = self.segments.get((attribute, value)) if value else None
            if segment is not None and segment.users >= self.min_users:
                found.append(segment)
        return found

    def ranking(self, attributes: Mapping[str, Any]) -> SegmentRanking | None:
        """The user's segment ranking (global items after the segments'); None when no segment
        of theirs has enough support (the caller answers with global popularity)."""
        segments = self.segments_of(attributes)
        if not segments:
            return None
        key = tuple((s.attribute, s.value) for s in segments)
        if key not in self._cache:
            scores: dict[str, float] = {}
            picks: dict[str, SegmentPick] = {}
            for segment_key, segment in zip(key, segments):
                for item, share in self.shares[segment_key].items():
                    scores[item] = scores.get(item, 0.0) + share
                    rank, count = self.ranks[segment_key][item]
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
    `popular_items`) joined to the curated users table; None without either table."""
    import pandas as pd

    from recaug import io

    config = settings.deploy.gateway
    if not io.exists(settings.lake.interactions) or not io.exists(settings.lake.users):
        return None
    events = io.read_parquet(settings.lake.interactions, columns=["user_id", "item_id", "timestamp"])
    users = io.read_parquet(settings.lake.users)
    if events.empty or users.empty:
        return None
    recent = events[events["timestamp"] > events["timestamp"].max() - pd.Timedelta(days=window_days)]
    return SegmentPopularity(recent, users, config.segment_min_users, config.segment_age_bands,
                             config.segment_items_kept, popular)
