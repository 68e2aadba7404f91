"""Which items (and users) exist, for the unknown-id policy of POST /events.

Read from the curated tables and re-read when they change (checked at most every
`events.catalogue_check_interval_s`), so a catalogue grown by the nightly run is seen
without a restart. Users are read only when unknown users are refused.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from recaug import io
from recaug.events.validation import Problem

if TYPE_CHECKING:
    from recaug.events.config import EventsConfig
    from recaug.settings import Settings


class Catalogue:
    def __init__(self, settings: "Settings"):
        self.settings = settings
        self.config = settings.events
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._versions: dict[str, Any] = {}
        self.items: set[str] = set()
        self.users: set[str] = set()

    def refresh(self, force: bool = False) -> None:
        """Re-read a curated table whose modification time changed."""
        with self._lock:
            if not force and time.monotonic() - self._checked < self.config.catalogue_check_interval_s:
                return
            self._checked = time.monotonic()
            lake = self.settings.lake
            self.items = self._ids(lake.items, "item_id", self.items)
            if self.config.unknown_users == "reject":
                self.users = self._ids(lake.interactions, "user_id", self.users)

    def _ids(self, url: str, column: str, current: set[str]) -> set[str]:
        if not io.exists(url):
            self._versions.pop(url, None)
            return set()
        fs, path = io.filesystem(url)
        version = fs.info(path).get("mtime") or fs.info(path).get("ETag")
        if self._versions.get(url) == version and version is not None:
            return current
        ids = set(io.read_parquet(url, columns=[column])[column].dropna().astype(str))
        self._versions[url] = version
        return ids

    def problems(self, index: int, record: dict[str, Any], config: "EventsConfig") -> list[Problem]:
        """The unknown-id problems of one (otherwise valid) event."""
        self.refresh()
        found = []
        if config.unknown_items == "reject" and record["item_id"] not in self.items:
            found.append(Problem(index, "item_id", "unknown item",
                                 f"{record['item_id']!r} is not in curated items (events.unknown_items=reject)"))
        if config.unknown_users == "reject" and record["user_id"] not in self.users:
            found.append(Problem(index, "user_id", "unknown user",
                                 f"{record['user_id']!r} has no curated interaction (events.unknown_users=reject)"))
        return found
