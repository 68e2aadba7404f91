"""Counters of the gateway (GET /metrics, Prometheus text format) and rate-limited warnings.

Every answer is counted by its source and every dependency failure by its stable code, so
a dashboard shows how much traffic was served by fallbacks and why. Each fallback is also
worth a warning in the log, but not one per request under load: at most one line per
source every `warning_interval_s`, with the count since the previous line.
"""

from __future__ import annotations

import bisect
import logging
import time
from typing import Callable

from recaug.serving_gateway.outcomes import ERROR_MESSAGES, NOTHING_TO_SERVE, SOURCES

log = logging.getLogger(__name__)
LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """Plain counters rendered in Prometheus text format. Not prometheus_client: importing Feast
    switches that library into multiprocess mode for the whole process (values in files
    shared by every registry and every child process that inherits the variable), which would
    mix the counts of several gateways."""

    def __init__(self, warning_interval_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.answers = dict.fromkeys(SOURCES, 0)  # every series exists from the start, at 0
        self.errors = dict.fromkeys((*ERROR_MESSAGES, NOTHING_TO_SERVE), 0)
        self.live_version = 0
        self._buckets = [0] * (len(LATENCY_BUCKETS_S) + 1)  # last: +Inf
        self._latency_sum = 0.0
        self._warning_interval_s = warning_interval_s
        self._clock = clock
        self._unreported: dict[str, int] = {}
        self._warned_at: dict[str, float] = {}

    def answered(self, source: str, seconds: float) -> None:
        self.answers[source] = self.answers.get(source, 0) + 1
        self._buckets[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        self._latency_sum += seconds

    def failed(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def fell_back(self, source: str, detail: str) -> None:
        """Log a fallback answer at warning, at most once per source per interval."""
        self._unreported[source] = self._unreported.get(source, 0) + 1
        now = self._clock()
        if now - self._warned_at.get(source, float("-inf")) < self._warning_interval_s:
            return
        count = self._unreported.pop(source)
        self._warned_at[source] = now
        log.warning("gateway: answered %d request(s) with popular items (%s) since the last warning; last cause: %s",
                    count, source, detail)

    def exposition(self) -> str:
        lines = ["# HELP recaug_gateway_answers_total Answers to /recommend by source (model, popular, "
                 "segment_popular, fallback:<reason>).", "# TYPE recaug_gateway_answers_total counter"]
        lines += [f'recaug_gateway_answers_total{{source="{k}"}} {v}' for k, v in self.answers.items()]
        lines += ["# HELP recaug_gateway_errors_total Dependency failures and refused requests by stable code.",
                  "# TYPE recaug_gateway_errors_total counter"]
        lines += [f'recaug_gateway_errors_total{{code="{k}"}} {v}' for k, v in self.errors.items()]
        lines += ["# HELP recaug_gateway_live_model_version Model version requests are pinned to (0: none).",
                  "# TYPE recaug_gateway_live_model_version gauge", f"recaug_gateway_live_model_version {self.live_version}",
                  "# HELP recaug_gateway_request_seconds Time to answer /recommend.",
                  "# TYPE recaug_gateway_request_seconds histogram"]
        cumulative = 0
        for bound, count in zip([*map(str, LATENCY_BUCKETS_S), "+Inf"], self._buckets):
            cumulative += count
            lines.append(f'recaug_gateway_request_seconds_bucket{{le="{bound}"}} {cumulative}')
        lines += [f"recaug_gateway_request_seconds_sum {self._latency_sum}",
                  f"recaug_gateway_request_seconds_count {cumulative}"]
        return "\n".join(lines) + "\n"
