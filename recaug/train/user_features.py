"""User attributes and profile embeddings for training, through Feast's point-in-time join.

The trainer reads user features the way the no-leakage tests check
(`recaug.features.training.training_frame`, feature service `training_users`), one row per
user, as known at the user's first event: the earliest moment the model answers for that
user in training (the first event is a target, predicted from an empty history) or, for a
user new to the model, the moment of their first request. Declared attributes are
visible from sign-up; a profile embedding only after the last event it summarises, so it
never reaches a training or evaluation row whose events it has read.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from recaug.models.user_tower import CATEGORICAL, NUMERIC, PROFILE

if TYPE_CHECKING:
    import pandas as pd

    from recaug.settings import Settings
    from recaug.train.dataset import EvalCases, SequenceData

log = logging.getLogger(__name__)

FEATURE_SERVICE = "training_users"


def first_answer_times(data: "SequenceData", new_users: "EvalCases | None" = None) -> np.ndarray:
    """Unix seconds per user of `data`: their first event, or the case time of users without events."""
    times = np.array([int(t[0]) if len(t) else -1 for t in data.user_times], dtype=np.int64)
    if new_users is not None and len(new_users):
        times[new_users.users] = new_users.now
    if (times < 0).any():
        raise ValueError(f"{int((times < 0).sum())} users have neither events nor a case time")
    return times


def user_feature_frame(settings: "Settings", data: "SequenceData", times: np.ndarray) -> "pd.DataFrame":
    """The `training_users` features of every user of `data` at `times` (Unix seconds), row u =
    data.users[u]: attribute columns and `profile_embedding` (None where not visible)."""
    import pandas as pd

    from recaug.features.training import training_frame

    entities = pd.DataFrame({"user_id": data.users, "event_timestamp": pd.to_datetime(times, unit="s", utc=True)})
    frame = training_frame(settings, entities, FEATURE_SERVICE)
    columns = [c for c in (*CATEGORICAL, *NUMERIC, PROFILE) if c in frame.columns]
    frame = frame[columns].copy()
    if PROFILE in frame:
        frame[PROFILE] = [v if isinstance(v, (list, np.ndarray)) and len(v) else None for v in frame[PROFILE]]
    with_attributes = int(frame.drop(columns=[PROFILE], errors="ignore").notna().any(axis=1).sum())
    with_profile = int(frame[PROFILE].notna().sum()) if PROFILE in frame else 0
    log.info("user features (%s, point in time at each user's first event): %d of %d users with attributes, "
             "%d with a visible profile", FEATURE_SERVICE, with_attributes, len(frame), with_profile)
    return frame.reset_index(drop=True)
