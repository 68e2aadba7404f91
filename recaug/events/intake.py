"""What POST /events does: validate, log durably, push online, in that order.

An answer of 200 means the events are fsynced in the log (they reach the next nightly
batch whatever happens afterwards). Pushing them online is what makes the next
/recommend reflect them; when the feature store fails, the request still succeeds,
says so (`online: "failed"`), and the nightly run catches up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from recaug.events.catalogue import Catalogue
from recaug.events.log import EventLog
from recaug.events.online import HistoryPusher
from recaug.events.validation import EventsRejected, Problem, validate_events

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)


class EventsReceipt(BaseModel):
    received: int  # events in the request
    logged: int  # new events written to the log (the rest were logged before: same event_id)
    online: str  # "pushed", "nothing to push" or "failed"
    users_updated: int


class EventIntake:
    def __init__(self, settings: "Settings"):
        self.settings = settings
        self.config = settings.events
        self.rating_range = (settings.validate_.rating_min, settings.validate_.rating_max)
        self.catalogue = Catalogue(settings)
        self.log = EventLog(settings)
        self.pusher = HistoryPusher(settings)
        self._workers = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="events")
        self._stop = threading.Event()
        self._sealer = threading.Thread(target=self._seal_periodically, name="events-sealer", daemon=True)
        self._sealer.start()

    def _seal_periodically(self) -> None:
        """Seal aged segments without waiting for the next event (see EventLog.seal_if_due)."""
        interval = max(self.config.segment_max_age_s / 4, 0.05)
        while not self._stop.wait(interval):
            try:
                self.log.seal_if_due()
            except OSError as exc:  # retried at the next tick; appends report their own errors
                log.warning("events: could not seal the log segment: %s", exc)

    def parse(self, body: bytes) -> list[dict[str, Any]]:
        """Validated records of a raw request body (EventsRejected otherwise)."""
        if len(body) > self.config.max_body_bytes:
            raise EventsRejected([Problem(None, None, "body size", f"{len(body):,} bytes, over the limit of "
                                          f"{self.config.max_body_bytes:,} (events.max_body_bytes)")])
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise EventsRejected([Problem(None, None, "json", f"the body is not JSON ({str(exc)[:200]})")]) from None
        return validate_events(payload, self.config, self.rating_range, self.catalogue)

    def receive(self, body: bytes) -> EventsReceipt:
        """Validate, log (fsynced) and push; blocking (the gateway runs it on a worker thread)."""
        records = self.parse(body)
        fresh = self.log.log(records)
        online, users = "nothing to push", 0
        try:
            users = self.pusher.push(fresh)
            online = "pushed" if users else online
        except Exception as exc:  # logged durably already; freshness waits for the nightly run
            online = "failed"
            log.warning("events: %d events logged but not pushed online: %s: %s", len(fresh), type(exc).__name__,
                        str(exc)[:300])
        return EventsReceipt(received=len(records), logged=len(fresh), online=online, users_updated=users)

    async def areceive(self, body: bytes) -> EventsReceipt:
        return await asyncio.get_running_loop().run_in_executor(self._workers, self.receive, body)

    def close(self) -> None:
        self._stop.set()
        self._sealer.join()
        self._workers.shutdown(wait=True)
        self.log.close()
