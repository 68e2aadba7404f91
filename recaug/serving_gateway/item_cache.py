"""Item infos (title, categories, embedding) kept in the gateway for a while.

Every answer needs 10-20 item infos, popular items recur in most answers, and titles or
embeddings change only when features are materialized again; re-reading them from the
online store per request costs more than the model call. Entries expire after `ttl_s`
(so re-materialized titles show up within that time) and the least recently used go
first when `size` is reached. Used from the event loop thread only (no locking).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

if TYPE_CHECKING:
    from recaug.features.online import ItemInfo


class ItemCache:
    def __init__(self, ttl_s: float, size: int, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, "ItemInfo"]] = OrderedDict()

    def get(self, item_ids: Sequence[str]) -> tuple[dict[str, "ItemInfo"], list[str]]:
        """(infos found and still fresh, ids to look up)."""
        found, missing = {}, []
        now = self._clock()
        for item_id in item_ids:
            entry = self._entries.get(item_id)
            if entry is not None and entry[0] > now:
                self._entries.move_to_end(item_id)
                found[item_id] = entry[1]
            else:
                missing.append(item_id)
        return found, missing

    def put(self, infos: Iterable["ItemInfo"]) -> None:
        if self.ttl_s <= 0 or self.size <= 0:
            return
        expires = self._clock() + self.ttl_s
        for info in infos:
            self._entries[info.item_id] = (expires, info)
            self._entries.move_to_end(info.item_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
