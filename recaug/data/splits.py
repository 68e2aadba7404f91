"""Deterministic train/validation/test splits of an interactions table.

- `leave_one_out`: per user, events sorted by timestamp (ties keep their input order);
  the last event is the test case, the one before it validation, the rest training.
  Users with fewer than 3 events cannot give all three parts and stay whole in train.
- `temporal_cut`: one global time cut (a timestamp or a quantile of event times), with
  an optional earlier cut for validation: the model never trains on the future.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recaug.errors import RecaugError

MIN_EVENTS_FOR_HOLDOUT = 3


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def _check(interactions: pd.DataFrame) -> None:
    missing = [c for c in ("user_id", "item_id", "timestamp") if c not in interactions.columns]
    if missing:
        raise RecaugError(f"split: interactions lack column(s) {missing}")


def chronological(interactions: pd.DataFrame) -> pd.DataFrame:
    """Events ordered by user then time; ties keep their input order (stable sort)."""
    _check(interactions)
    return interactions.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)


def leave_one_out(interactions: pd.DataFrame) -> Split:
    """Last event per user → test, previous → valid, rest → train (users with < 3 events: train only)."""
    ordered = chronological(interactions)
    by_user = ordered.groupby("user_id", sort=False)
    from_end = by_user.cumcount(ascending=False)  # 0 = the user's last event
    eligible = by_user["user_id"].transform("size") >= MIN_EVENTS_FOR_HOLDOUT
    test = eligible & (from_end == 0)
    valid = eligible & (from_end == 1)
    return Split(
        train=ordered[~(test | valid)].reset_index(drop=True),
        valid=ordered[valid].reset_index(drop=True),
        test=ordered[test].reset_index(drop=True),
    )


def temporal_cut(
    interactions: pd.DataFrame,
    test_from: str | pd.Timestamp | None = None,
    valid_from: str | pd.Timestamp | None = None,
    test_quantile: float | None = None,
    valid_quantile: float | None = None,
) -> Split:
    """Events before `valid_from` train, [valid_from, test_from) validate, from `test_from` on test.

    Cuts are timestamps (UTC) or quantiles of the event times (e.g. test_quantile=0.9 puts
    the latest 10% of events in test). Without a validation cut, valid is empty.
    """
    _check(interactions)
    if (test_from is None) == (test_quantile is None):
        raise RecaugError("temporal_cut: give exactly one of test_from or test_quantile")
    if valid_from is not None and valid_quantile is not None:
        raise RecaugError("temporal_cut: give at most one of valid_from or valid_quantile")
    times = interactions["timestamp"]
    test_cut = _cut(times, test_from, test_quantile, "test")
    valid_cut = _cut(times, valid_from, valid_quantile, "valid") if (valid_from is not None or valid_quantile is not None) else test_cut
    if valid_cut > test_cut:
        raise RecaugError(f"temporal_cut: the validation cut {valid_cut} is after the test cut {test_cut}")
    ordered = chronological(interactions)
    t = ordered["timestamp"]
    return Split(
        train=ordered[t < valid_cut].reset_index(drop=True),
        valid=ordered[(t >= valid_cut) & (t < test_cut)].reset_index(drop=True),
        test=ordered[t >= test_cut].reset_index(drop=True),
    )


def _cut(times: pd.Series, at, quantile: float | None, name: str) -> pd.Timestamp:
    if quantile is not None:
        if not 0 < quantile < 1:
            raise RecaugError(f"temporal_cut: {name} quantile must be in (0, 1), got {quantile}")
        if times.empty:
            raise RecaugError("temporal_cut: no interactions to take a quantile of")
        # A quantile that falls between two events snaps to the next real event time.
        return times.sort_values().iloc[min(int(quantile * len(times)), len(times) - 1)]
    cut = pd.Timestamp(at)
    return cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
