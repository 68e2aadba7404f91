"""Feedback events into the online store: each user's history gets the new items at once.

The user_history feature view is fed by the push source `user_history_push` (see
feature_repo/user_features.py). A push replaces the user's whole row, so the new row is
built from the current one: history read from the store, the events merged in time
order, cut to `features.history_length`.

A Feast push costs tens of milliseconds whatever its size (it reads the feature views
and services from the registry each time), so pushes are batched: the caller that finds
no push running becomes the pusher and pushes, in one call, the events of every request
that queued meanwhile; the others wait for it. Being the only pusher of the process also
makes each user's read-merge-write safe from the other requests. Another process pushing
for the same user at the same instant can lose one update online; the event log still
has both and the nightly run rebuilds the history from it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from recaug.settings import Settings

PUSH_SOURCE = "user_history_push"


@dataclass
class _Request:
    events: list[tuple[str, int, str]]  # (user_id, unix seconds, item_id)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class HistoryPusher:
    """Pushes the users' new history rows; `push` is thread-safe and returns once pushed."""

    def __init__(self, settings: "Settings"):
        self.settings = settings
        self.wanted = set(settings.events.push_event_types)
        self._mutex = threading.Lock()
        self._queue: list[_Request] = []
        self._pushing = False

    def push(self, records: Iterable[dict[str, Any]]) -> int:
        """Push the pushable events of `records`; returns how many users they touch."""
        events = [(r["user_id"], int(r["timestamp"].timestamp()), r["item_id"])
                  for r in records if r["event_type"] in self.wanted]
        if not events:
            return 0
        request = _Request(events)
        with self._mutex:
            self._queue.append(request)
            leader, self._pushing = not self._pushing, True
        if leader:
            self._push_queued()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return len({user for user, _, _ in events})

    def _push_queued(self) -> None:
        while True:
            with self._mutex:
                batch, self._queue = self._queue, []
                if not batch:
                    self._pushing = False
                    return
            try:
                push_history_rows(self.settings, [event for request in batch for event in request.events])
            except BaseException as exc:  # every request of this batch learns it was not pushed
                for request in batch:
                    request.error = exc
            for request in batch:
                request.done.set()


def push_history_rows(settings: "Settings", events: list[tuple[str, int, str]]) -> None:
    """One push of the new history rows of the users of `events` (user_id, unix seconds, item_id)."""
    import pandas as pd
    from feast.data_source import PushMode

    from recaug.features.online import get_user_context, online_reader

    by_user: dict[str, list[tuple[int, str]]] = {}
    for user, seconds, item in events:
        by_user.setdefault(user, []).append((seconds, item))
    length = settings.features.history_length
    rows = []
    for context in get_user_context(sorted(by_user), settings):
        history = list(zip(context.history_timestamps, context.history_item_ids)) + by_user[context.user_id]
        history = sorted(history, key=lambda pair: pair[0])[-length:]  # stable: same-second events keep their order
        rows.append({"user_id": context.user_id, "history_item_ids": [item for _, item in history],
                     "history_timestamps": [seconds for seconds, _ in history], "history_length": len(history)})
    frame = pd.DataFrame(rows)
    frame["event_timestamp"] = pd.Timestamp(datetime.now(timezone.utc))
    online_reader(settings).store.push(PUSH_SOURCE, frame, to=PushMode.ONLINE)
