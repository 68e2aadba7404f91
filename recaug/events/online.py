"""Feedback events into the online store: each user's history gets the new items at once.

The user_history feature view is fed by the push source `user_history_push` (see
feature_repo/user_features.py). A push replaces the user's whole row, so the new row is
built from the current one: history read from the store, the events merged in time
order, cut to `features.history_length`. Users are locked (striped locks) while their
row is read, merged and pushed, so concurrent events of one user in this process do not
overwrite each other. Another process pushing for the same user at the same instant can
lose one update online; the event log still has both and the nightly run rebuilds it.
"""

from __future__ import annotations

import threading
import zlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from recaug.settings import Settings

PUSH_SOURCE = "user_history_push"
_STRIPES = [threading.Lock() for _ in range(64)]


def _stripe(user_id: str) -> int:
    return zlib.crc32(user_id.encode("utf-8", "surrogatepass")) % len(_STRIPES)


def push_history(settings: "Settings", records: Iterable[dict[str, Any]]) -> int:
    """Push the history rows of the users of `records` (the pushable event types only);
    returns the number of users whose online history changed."""
    import pandas as pd
    from feast.data_source import PushMode

    from recaug.features.online import get_user_context, online_reader

    wanted = set(settings.events.push_event_types)
    by_user: dict[str, list[tuple[int, str]]] = {}
    for record in records:
        if record["event_type"] in wanted:
            by_user.setdefault(record["user_id"], []).append((int(record["timestamp"].timestamp()), record["item_id"]))
    if not by_user:
        return 0
    users = sorted(by_user)
    stripes = sorted({_stripe(user) for user in users})
    for stripe in stripes:  # always in the same order: no deadlock between requests
        _STRIPES[stripe].acquire()
    try:
        contexts = get_user_context(users, settings)
        length = settings.features.history_length
        rows = []
        for context in contexts:
            history = list(zip(context.history_timestamps, context.history_item_ids)) + by_user[context.user_id]
            history = sorted(history, key=lambda pair: pair[0])[-length:]  # stable: same-second events keep their order
            rows.append({"user_id": context.user_id, "history_item_ids": [item for _, item in history],
                         "history_timestamps": [seconds for seconds, _ in history], "history_length": len(history)})
        frame = pd.DataFrame(rows)
        frame["event_timestamp"] = pd.Timestamp(datetime.now(timezone.utc))
        online_reader(settings).store.push(PUSH_SOURCE, frame, to=PushMode.ONLINE)
    finally:
        for stripe in reversed(stripes):
            _STRIPES[stripe].release()
    return len(rows)
