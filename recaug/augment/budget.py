"""How many LLM prompts a run may send, how long they should take, and how far it got.

One `LLMBudget` is shared by the three tasks of a run (items, then profiles, then
picks), so `augment.max_llm_prompts_per_run` caps every LLM call of the run and 0 means
none. Before a task sends anything it logs an estimate (prompts × seconds per prompt,
naming where that number comes from); after each chunk it logs done/total, the rate
and the time left, so a person watching the task log sees it move.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class SecondsPerPrompt:
    """A time per prompt and, in words, where it comes from."""

    seconds: float
    source: str


class LLMBudget:
    """Prompts the run may still send to the LLM (every task draws from the same pool)."""

    def __init__(self, total: int):
        self.total = total
        self.remaining = total

    def take(self, wanted: int, task_cap: int) -> int:
        """How many of `wanted` prompts a task may send now, within its own cap and the pool."""
        granted = max(0, min(wanted, task_cap, self.remaining))
        self.remaining -= granted
        return granted


def measured_seconds_per_prompt(previous_stats: dict | None, model_id: str) -> SecondsPerPrompt | None:
    """Seconds per prompt measured by the last run of the same model (augment/stats.json)."""
    if not previous_stats or previous_stats.get("model_id") != model_id:
        return None
    tasks = [previous_stats.get(k) or {} for k in ("items", "profiles", "interactions")]
    prompts = sum(t.get("llm_prompts", 0) for t in tasks)
    seconds = sum(t.get("llm_seconds", 0.0) for t in tasks)
    if prompts <= 0 or seconds <= 0:
        return None
    return SecondsPerPrompt(seconds / prompts, f"measured by the last run ({prompts} prompts in {seconds:.0f} s)")


def configured_seconds_per_prompt(backend_config) -> SecondsPerPrompt:
    return SecondsPerPrompt(backend_config.seconds_per_prompt,
                            f"configured estimate augment.backend.seconds_per_prompt for the {backend_config.type} backend")


def duration(seconds: float) -> str:
    """1 h 05 min, 3 min 20 s, 12 s: how a person reads a time left."""
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


class Progress:
    """Per-chunk progress of one task's LLM prompts: done/total, rate, time left."""

    def __init__(self, task: str, total: int, estimate: SecondsPerPrompt):
        self.task = task
        self.total = total
        self.estimate = estimate
        self.done = 0
        self.started = time.perf_counter()

    def announce(self, cached: int, deferred: int) -> None:
        log.info("%s: %d prompts for the LLM (%d answered from the cache, %d deferred by the budget); "
                 "estimated %s at %.1f s per prompt (%s)", self.task, self.total, cached, deferred,
                 duration(self.total * self.estimate.seconds), self.estimate.seconds, self.estimate.source)

    def advance(self, prompts: int, fallbacks: int) -> None:
        self.done += prompts
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        log.info("%s: %d/%d prompts done, %.2f prompts/s (%.1f s per prompt), about %s left, %d fallbacks so far",
                 self.task, self.done, self.total, rate, 1 / rate if rate else 0.0, duration(left), fallbacks)
