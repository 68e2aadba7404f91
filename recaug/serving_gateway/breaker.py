"""A circuit breaker per dependency: after a failure, skip the dependency for a while.

A locked or slow feature store makes every lookup wait for its timeout; without a breaker
every concurrent request would wait that long and pile up threads behind the lock. Once a
call fails, requests are answered without the dependency for `cooldown_s`; then one
request probes it, and its success closes the breaker for everyone. Used from the event
loop thread only (no locking).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger(__name__)


class CircuitBreaker:
    def __init__(self, dependency: str, cooldown_s: float, clock: Callable[[], float] = time.monotonic):
        self.dependency = dependency
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._open_until: float | None = None  # None: closed
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def allow(self) -> bool:
        """Whether this request may call the dependency (closed, or it is the one probe)."""
        if self._open_until is None:
            return True
        if self._probing or self._clock() < self._open_until:
            return False
        self._probing = True
        return True

    def succeeded(self) -> None:
        if self._open_until is not None:
            log.info("gateway: %s answers again; requests use it again", self.dependency)
        self._open_until, self._probing = None, False

    def failed(self, detail: str) -> None:
        if self._open_until is None or self._probing:
            log.warning("gateway: %s failed (%s); answering without it for %g s, then trying again",
                        self.dependency, detail, self.cooldown_s)
        self._open_until, self._probing = self._clock() + self.cooldown_s, False

    def abandoned(self) -> None:
        """The call was cancelled (client went away): neither success nor failure."""
        self._probing = False
