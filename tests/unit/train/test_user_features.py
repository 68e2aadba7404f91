"""The user-feature timeline: each prediction reads its user's features as known at its time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaug.train.user_features import UserFeatureTimeline


def _timeline() -> UserFeatureTimeline:
    # user 0: known from 100, a profile from 200; user 2: known from 50; user 1: never
    frame = pd.DataFrame({"age": [None, 30.0, 30.0, 41.0], "profile_embedding": [None, None, [1.0, 2.0], None]})
    return UserFeatureTimeline(frame, owners=np.array([0, 0, 2]), starts=np.array([100, 200, 50]))


def test_each_time_reads_the_newest_row_of_its_own_user_at_or_before_it():
    timeline = _timeline()
    users = np.array([0, 0, 0, 0, 1, 2, 2])
    times = np.array([99, 100, 199, 200, 500, 49, 10**9])
    assert timeline.rows_at(users, times).tolist() == [0, 1, 1, 2, 0, 0, 3]


def test_positions_of_windows_broadcast_their_user():
    windows_users = np.array([0, 2])
    target_times = np.array([[0, 150, 250], [0, 60, 70]])  # 0: a padding position
    assert _timeline().rows_at(windows_users[:, None], target_times).tolist() == [[0, 1, 2], [0, 3, 3]]


def test_latest_and_fixed_per_user_features():
    assert _timeline().latest(3)["age"].tolist()[0] == 30.0
    assert _timeline().latest(3)["profile_embedding"].tolist()[0] == [1.0, 2.0]
    assert pd.isna(_timeline().latest(3)["age"].iloc[1])
    fixed = UserFeatureTimeline.per_user(pd.DataFrame({"age": [20.0, 21.0]}))
    assert fixed.frame["age"].iloc[fixed.rows_at(np.array([1, 0]), np.array([0, 5]))].tolist() == [21.0, 20.0]


def test_first_known_weighs_each_user_once_with_their_first_value_of_each_column():
    first = _timeline().first_known()  # user 0 has two states, user 2 one, user 1 none
    assert first["age"].tolist() == [30.0, 41.0]
    assert first["profile_embedding"].tolist()[0] == [1.0, 2.0] and first["profile_embedding"].iloc[1] is None


def test_rows_must_be_sorted_without_repeats():
    frame = pd.DataFrame({"age": [None, 1.0, 2.0]})
    with pytest.raises(ValueError, match="sorted"):
        UserFeatureTimeline(frame, owners=np.array([1, 0]), starts=np.array([5, 5]))
    with pytest.raises(ValueError, match="sorted"):
        UserFeatureTimeline(frame, owners=np.array([0, 0]), starts=np.array([5, 5]))
    with pytest.raises(ValueError, match="row 0"):
        UserFeatureTimeline(frame.iloc[1:], owners=np.array([0, 1]), starts=np.array([5, 5]))
