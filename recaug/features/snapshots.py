"""Point-in-time snapshots: the rule that keeps later events out of earlier features.

A snapshot summarises a user's (or item's) events up to the last event of a time
bucket and becomes visible one microsecond after that event. Feast's point-in-time
join takes the latest snapshot with `event_timestamp <= t`, so a feature row seen at
time t only contains events strictly before t — an interaction never sees itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recaug.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

VISIBLE_AFTER_US = 1


def buckets(timestamps: "pd.Series", every: str) -> "pd.Series":
    """The snapshot bucket of each timestamp (`every` is a fixed pandas offset such as 1D or 6h)."""
    try:
        return timestamps.dt.floor(every)
    except ValueError as exc:
        raise ConfigError(
            f"features.snapshot_every={every!r} is not a fixed-length pandas offset (use e.g. 1D, 6h, 30min): {exc}"
        ) from exc


def visible_at(last_event: "pd.Series") -> "pd.Series":
    """When a snapshot whose last event is `last_event` may be used."""
    import pandas as pd

    return last_event + pd.Timedelta(microseconds=VISIBLE_AFTER_US)


def unix_seconds(timestamps: "pd.Series") -> "pd.Series":
    return timestamps.astype("int64") // 1_000_000_000
