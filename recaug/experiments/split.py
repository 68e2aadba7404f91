"""Which arm a user is in: a salted hash of the user id, the same answer on every request,
every gateway process and in the report (which recomputes it for events without an arm)."""

from __future__ import annotations

import hashlib
from typing import Literal

Arm = Literal["champion", "challenger"]
CHAMPION: Arm = "champion"
CHALLENGER: Arm = "challenger"
_SCALE = float(1 << 64)


def bucket(user_id: str, salt: str) -> float:
    """A uniform number in [0, 1) fixed by (salt, user_id); sha256 so it does not depend on
    Python's per-process hash seed."""
    digest = hashlib.sha256(f"{salt}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign_arm(user_id: str, salt: str, share: float) -> Arm:
    """The challenger serves users whose bucket falls below `share`."""
    return CHALLENGER if bucket(user_id, salt) < share else CHAMPION
