"""The arm split: deterministic per user, the configured share within tolerance, a new salt re-splits."""

from __future__ import annotations

import math

import pytest

from recaug.experiments.split import CHALLENGER, CHAMPION, assign_arm, bucket

USERS = [f"user-{i}" for i in range(20_000)]


def test_the_same_user_always_gets_the_same_arm():
    first = [assign_arm(u, "salt-a", 0.3) for u in USERS[:2000]]
    assert [assign_arm(u, "salt-a", 0.3) for u in USERS[:2000]] == first
    # a fixed value: sha256 of "salt-a\0user-0", so no process or platform changes it
    assert bucket("user-0", "salt-a") == pytest.approx(int.from_bytes(
        __import__("hashlib").sha256(b"salt-a\x00user-0").digest()[:8], "big") / 2 ** 64)


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5, 0.9])
def test_the_challenger_share_is_respected_within_four_standard_errors(share):
    challengers = sum(assign_arm(u, "exp-1", share) == CHALLENGER for u in USERS)
    tolerance = 4 * math.sqrt(share * (1 - share) / len(USERS))
    assert abs(challengers / len(USERS) - share) < tolerance


def test_a_different_salt_assigns_users_independently():
    a = [assign_arm(u, "exp-1", 0.5) for u in USERS]
    b = [assign_arm(u, "exp-2", 0.5) for u in USERS]
    changed = sum(x != y for x, y in zip(a, b)) / len(USERS)
    assert abs(changed - 0.5) < 0.03  # independent halves disagree for half of the users


def test_a_larger_share_only_moves_users_into_the_challenger():
    small = {u for u in USERS if assign_arm(u, "exp-1", 0.1) == CHALLENGER}
    large = {u for u in USERS if assign_arm(u, "exp-1", 0.3) == CHALLENGER}
    assert small < large
    assert assign_arm("anyone", "exp-1", 0.0) == CHAMPION
