"""User attributes and profile embeddings for training, through Feast's point-in-time join.

The trainer reads user features the way the no-leakage tests check
(`recaug.features.training.training_frame`, feature service `training_users`): every
prediction reads them as known at its own time. A training position predicts its target at
the target's time; an evaluation case answers at its request time. Declared attributes are
visible from sign-up; a profile embedding only after the last event it summarises, and the
features keep one profile per night it changed (`recaug.features.user_tables.user_profile`),
so a position between two nights reads the profile of the earlier one and never one that
has read its target.

Feast is asked once per user and time at which its answer can change (the user's first
answer and each time one of their feature rows becomes visible or expires), not once per
position: between two such times the join's answer is the same, so each position takes the
answer at the newest of them at or before it. At 10M events that is a few rows per user
instead of one per event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recaug.models.user_spec import CATEGORICAL, NUMERIC, PROFILE

if TYPE_CHECKING:
    import pandas as pd

    from recaug.settings import Settings
    from recaug.train.dataset import EvalCases, SequenceData

log = logging.getLogger(__name__)

FEATURE_SERVICE = "training_users"
VIEWS = ("user_attributes", "user_profile")  # the views of FEATURE_SERVICE, whose rows change its answer
_TIME_BITS = 32  # a key is user << 32 | Unix second (times are clipped to [0, 2**32))


@dataclass
class UserFeatureTimeline:
    """What the model may know about a user at a time: `frame` row r (r >= 1) holds the features
    of user `owners[r-1]` from second `starts[r-1]` on, until their next row; row 0 is a user of
    whom nothing is known. Rows are sorted by (owner, start)."""

    frame: "pd.DataFrame"  # attribute columns and profile_embedding (None where not visible)
    owners: np.ndarray  # int64, index into SequenceData.users
    starts: np.ndarray  # int64, Unix seconds

    def __post_init__(self) -> None:
        if len(self.frame) != len(self.owners) + 1 or len(self.owners) != len(self.starts):
            raise ValueError(f"a timeline of {len(self.owners)} rows needs {len(self.owners) + 1} frame rows "
                             f"(row 0: nothing known) and as many starts, got {len(self.frame)} and {len(self.starts)}")
        self._keys = _keys(self.owners, self.starts)
        if len(self._keys) > 1 and (np.diff(self._keys) <= 0).any():
            raise ValueError("user feature rows must be sorted by (owner, start) without repeats")

    def rows_at(self, users: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Frame rows that users (int64, any shape) read at times (Unix seconds, same shape)."""
        users, times = np.broadcast_arrays(np.asarray(users, dtype=np.int64), np.asarray(times, dtype=np.int64))
        at = np.searchsorted(self._keys, _keys(users, times), side="right") - 1
        found = (at >= 0) & (self.owners[np.maximum(at, 0)] == users) if len(self._keys) else np.zeros(users.shape, bool)
        return np.where(found, at + 1, 0)

    def latest(self, n_users: int) -> "pd.DataFrame":
        """Row u: user u's newest features (what a request after all their rows reads)."""
        return self.frame.iloc[self.rows_at(np.arange(n_users), np.full(n_users, 1 << _TIME_BITS))].reset_index(drop=True)

    def first_known(self) -> "pd.DataFrame":
        """One row per user with any row: each column's first known value, so that fitting codes
        and quantiles weighs every user once however many nights their features changed."""
        return self.frame.iloc[1:].groupby(self.owners, sort=True).first().reset_index(drop=True)

    @classmethod
    def per_user(cls, frame: "pd.DataFrame") -> "UserFeatureTimeline":
        """Fixed features for all time, row u of `frame` belonging to user u (benchmarks that
        supply features themselves)."""
        owners = np.arange(len(frame), dtype=np.int64)
        return cls(_below_unknown_row(frame), owners, np.zeros(len(frame), dtype=np.int64))


def _below_unknown_row(frame: "pd.DataFrame") -> "pd.DataFrame":
    """`frame` under a row 0 of missing values: a user of whom nothing is known."""
    out = frame.reset_index(drop=True).reindex(range(-1, len(frame))).reset_index(drop=True)
    if PROFILE in out:
        out[PROFILE] = out[PROFILE].astype(object).where(out[PROFILE].notna(), None)
    return out


def _keys(users: np.ndarray, times: np.ndarray) -> np.ndarray:
    return (users.astype(np.int64) << _TIME_BITS) | np.clip(times, 0, (1 << _TIME_BITS) - 1).astype(np.int64)


def first_answer_times(data: "SequenceData", new_users: "EvalCases | None" = None) -> np.ndarray:
    """Unix seconds per user of `data`: their first event, or the case time of users without events."""
    times = np.array([int(t[0]) if len(t) else -1 for t in data.user_times], dtype=np.int64)
    if new_users is not None and len(new_users):
        times[new_users.users] = new_users.now
    if (times < 0).any():
        raise ValueError(f"{int((times < 0).sum())} users have neither events nor a case time")
    return times


def answer_change_times(settings: "Settings", users: list[str], first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owners, starts) sorted: each user's first answer time and every later second at which one
    of their rows in the service's views becomes visible (or, with a TTL, expires)."""
    import pandas as pd

    from recaug import io
    from recaug.features.build import features_url
    from recaug.features.tables import TIMESTAMP

    position = pd.Series(np.arange(len(users), dtype=np.int64), index=pd.Index(users, dtype="string"))
    owners, starts = [np.arange(len(users), dtype=np.int64)], [first.astype(np.int64)]
    ttl = settings.features.ttl_days * 86_400
    for view in VIEWS:
        url = features_url(settings, f"{view}.parquet")
        if not io.exists(url):
            continue
        rows = io.read_parquet(url, columns=["user_id", TIMESTAMP])
        owner = position.reindex(rows["user_id"].astype("string")).to_numpy()
        known = ~pd.isna(owner)
        microseconds = rows[TIMESTAMP].astype("datetime64[us, UTC]").astype("int64").to_numpy()[known]
        owner = owner[known].astype(np.int64)
        visible = -(-microseconds // 1_000_000)  # a position at second s reads rows stamped at or before s
        owners.append(owner)
        starts.append(visible)
        if ttl:  # Feast keeps a row while entity time - ttl <= row time
            owners.append(owner)
            starts.append(microseconds // 1_000_000 + ttl + 1)
    owners, starts = np.concatenate(owners), np.concatenate(starts)
    later = starts >= first[owners]  # earlier changes are already in the answer at the first one
    keys = np.unique(_keys(owners[later], starts[later]))
    return keys >> _TIME_BITS, keys & ((1 << _TIME_BITS) - 1)


def user_feature_timeline(settings: "Settings", data: "SequenceData",
                          new_users: "EvalCases | None" = None) -> UserFeatureTimeline:
    """The `training_users` features of every user of `data` at every time its answer changes."""
    import pandas as pd

    from recaug.features.training import training_frame

    owners, starts = answer_change_times(settings, data.users, first_answer_times(data, new_users))
    entities = pd.DataFrame({"user_id": np.asarray(data.users, dtype=object)[owners],
                             "event_timestamp": pd.to_datetime(starts, unit="s", utc=True)})
    frame = training_frame(settings, entities, FEATURE_SERVICE)
    columns = [c for c in (*CATEGORICAL, *NUMERIC, PROFILE) if c in frame.columns]
    frame = frame[columns].copy()
    if PROFILE in frame:
        frame[PROFILE] = [v if isinstance(v, (list, np.ndarray)) and len(v) else None for v in frame[PROFILE]]
    timeline = UserFeatureTimeline(_below_unknown_row(frame), owners, starts)
    _log_summary(frame, owners, len(data.users))
    return timeline


def _log_summary(frame: "pd.DataFrame", owners: np.ndarray, n_users: int) -> None:
    attributes = frame.drop(columns=[PROFILE], errors="ignore").notna().any(axis=1).to_numpy()
    profiled = frame[PROFILE].notna().to_numpy() if PROFILE in frame else np.zeros(len(frame), dtype=bool)
    log.info("user features (%s, point in time at each prediction): %d of %d users with attributes, %d with a "
             "profile visible to some of their predictions; %d feature states (%.1f per user)", FEATURE_SERVICE,
             len(np.unique(owners[attributes])), n_users, len(np.unique(owners[profiled])), len(frame),
             len(frame) / max(1, n_users))

