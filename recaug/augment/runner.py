"""Cache, budget, retries and fallback around a generator: the part every task shares.

For each request the runner answers, in this order: from the cache (zero model calls
on unchanged data); with the LLM while both the task's cap and the run's shared budget
last (priority is the order of the requests); with the template for the rest (marked `deferred`, done by the LLM
in a later run). Model text that fails its parser is retried with sampling up to
`max_attempts`, then replaced by the template (`fallback`) and the failure is cached,
so a rerun does not spend the model on it again. A transport failure (endpoint down
after its own retries) also falls back but is not cached: the next run tries again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Generic, TypeVar

from pydantic import BaseModel, Field

from recaug.augment.backends.template import TemplateGenerator
from recaug.augment.budget import LLMBudget, Progress, SecondsPerPrompt, configured_seconds_per_prompt
from recaug.augment.cache import INVALID, OK, GenerationCache, generation_key
from recaug.augment.generator import ChatPrompt, Generator
from recaug.augment.outputs import InvalidOutput
from recaug.augment.privacy import PromptPrivacy

log = logging.getLogger(__name__)

T = TypeVar("T")
Parser = Callable[[str, ChatPrompt, bool], Any]  # (text, prompt, from_model) -> value or InvalidOutput


class TaskStats(BaseModel):
    task: str
    outputs: int = Field(0, description="rows produced")
    budget: int = Field(0, description="LLM prompts this run may send at most (the task's per-run cap)")
    cache_hits: int = Field(0, description="answered from cache/generations (no model call)")
    llm_prompts: int = Field(0, description="prompts sent to the LLM this run")
    generations: int = Field(0, description="model calls, retries included")
    retries: int = Field(0, description="model calls after a first invalid answer")
    invalid_outputs: int = Field(0, description="model answers rejected by the output schema")
    transport_errors: int = Field(0, description="prompts the endpoint failed after its retries")
    fallbacks: int = Field(0, description="outputs replaced by the template after the LLM failed")
    deferred: int = Field(0, description="outputs given the template because the run's LLM budget was spent")
    template: int = Field(0, description="outputs of the template backend by configuration")
    tokens_in: int = 0
    tokens_out: int = 0
    llm_seconds: float = Field(0.0, description="time spent waiting for the LLM (the measured cost per prompt)")
    seconds: float = 0.0


@dataclass
class Outcome(Generic[T]):
    value: T
    backend: str
    model_id: str
    key: str
    fallback: bool = False
    deferred: bool = False
    cached: bool = False


class GenerationRunner:
    def __init__(self, generator: Generator, cache: GenerationCache, config, progress: bool | None = None,
                 budget: LLMBudget | None = None, seconds_per_prompt: SecondsPerPrompt | None = None,
                 pseudonymise: Callable[[str], str] | None = None):
        self.generator = generator
        self.cache = cache
        self.config = config
        self.template = TemplateGenerator()
        self.progress = progress  # False: per-chunk progress lines at debug level (benchmarks)
        self.budget = budget or LLMBudget(config.max_llm_prompts_per_run)
        self.seconds_per_prompt = seconds_per_prompt or configured_seconds_per_prompt(config.backend)
        self._measured_prompts = 0
        self._measured_seconds = 0.0
        # the data-flow policy for this generator's endpoint: checked before any prompt is sent
        self.privacy = PromptPrivacy(config.privacy, generator.endpoint, pseudonymise)

    @property
    def uses_llm(self) -> bool:
        return self.generator.backend != "template"

    def run(self, task: str, prompts: list[ChatPrompt], prompt_version: str, budget: int, parse: Parser):
        """One Outcome per prompt, in order, and the task's statistics."""
        started = time.perf_counter()
        stats = TaskStats(task=task, outputs=len(prompts), budget=budget)
        outcomes: list[Outcome | None] = [None] * len(prompts)
        keys = [generation_key(p, prompt_version, self.generator.model_id) for p in prompts]
        pending: list[int] = []
        for i, (prompt, key) in enumerate(zip(prompts, keys)):
            if not self.uses_llm:
                outcomes[i] = self._template(prompt, key, parse)
                stats.template += 1
                continue
            entry = self.cache.get(key)
            if entry is not None:
                hit = self._from_cache(entry, prompt, key, parse)
                if hit is not None:
                    self.cache.tag(key, prompt.subject)  # the same prompt may come from another user
                    outcomes[i] = hit
                    stats.cache_hits += 1
                    stats.fallbacks += hit.fallback
                    continue
            pending.append(i)
        granted = self.budget.take(len(pending), budget)
        chosen, deferred = pending[:granted], pending[granted:]
        for i in deferred:
            outcomes[i] = self._template(prompts[i], keys[i], parse, deferred=True)
        stats.deferred = len(deferred)
        if chosen:
            self.privacy.check([task])
            progress = Progress(task, len(chosen), self.seconds_per_prompt)
            progress.announce(cached=stats.cache_hits, deferred=stats.deferred)
            self._generate(chosen, prompts, keys, parse, prompt_version, stats, outcomes, progress)
            self._learn_rate(stats)
        stats.seconds = round(time.perf_counter() - started, 3)
        log.info(
            "%s: %d outputs, %d cache hits, %d LLM prompts (%d generations), %d fallbacks, %d deferred, %.1fs",
            task, stats.outputs, stats.cache_hits, stats.llm_prompts, stats.generations, stats.fallbacks,
            stats.deferred, stats.seconds,
        )
        return outcomes, stats

    def _generate(self, chosen, prompts, keys, parse, prompt_version, stats, outcomes, progress: Progress) -> None:
        size = self.config.chunk_size
        for start in range(0, len(chosen), size):
            chunk = chosen[start:start + size]
            began = time.perf_counter()
            self._generate_chunk(chunk, prompts, keys, parse, prompt_version, stats, outcomes)
            stats.llm_seconds = round(stats.llm_seconds + time.perf_counter() - began, 3)
            self.cache.save()  # partial progress survives a crash in a later chunk
            if self.progress is False:
                log.debug("%s: %d/%d prompts done", progress.task, start + len(chunk), len(chosen))
            else:
                progress.advance(len(chunk), stats.fallbacks)

    def _learn_rate(self, stats: TaskStats) -> None:
        """Later tasks of this run estimate with the time this one measured."""
        self._measured_prompts += stats.llm_prompts
        self._measured_seconds += stats.llm_seconds
        if self._measured_prompts:
            self.seconds_per_prompt = SecondsPerPrompt(
                self._measured_seconds / self._measured_prompts,
                f"measured earlier in this run ({self._measured_prompts} prompts in {self._measured_seconds:.0f} s)")

    def _generate_chunk(self, chunk, prompts, keys, parse, prompt_version, stats, outcomes) -> None:
        stats.llm_prompts += len(chunk)
        remaining = list(chunk)
        failures: dict[int, tuple[str, str]] = {}
        for attempt in range(self.config.max_attempts):
            if not remaining:
                break
            temperature = 0.0 if attempt == 0 else self.config.retry_temperature
            generations = self.generator.generate(
                [prompts[i] for i in remaining], self.config.max_new_tokens, temperature, self.config.seed + attempt
            )
            stats.generations += len(remaining)
            stats.retries += len(remaining) if attempt else 0
            retry: list[int] = []
            for i, generation in zip(remaining, generations):
                stats.tokens_in += generation.tokens_in
                stats.tokens_out += generation.tokens_out
                if generation.error:
                    log.warning("%s: %s; using the template", keys[i][:12], generation.error)
                    stats.transport_errors += 1
                    stats.fallbacks += 1
                    outcomes[i] = self._template(prompts[i], keys[i], parse, fallback=True)
                    continue
                try:
                    value = parse(generation.text, prompts[i], True)
                except InvalidOutput as exc:
                    stats.invalid_outputs += 1
                    failures[i] = (generation.text, str(exc))
                    retry.append(i)
                    continue
                self.cache.put(keys[i], self._entry(OK, generation.text, prompt_version, generation), prompts[i].subject)
                outcomes[i] = Outcome(value, self.generator.backend, self.generator.model_id, keys[i])
            remaining = retry
        for i in remaining:
            text, reason = failures[i]
            log.debug("%s: invalid after %d attempts (%s): %r", keys[i][:12], self.config.max_attempts, reason, text[:200])
            self.cache.put(keys[i], {**self._entry(INVALID, text, prompt_version), "reason": reason}, prompts[i].subject)
            stats.fallbacks += 1
            outcomes[i] = self._template(prompts[i], keys[i], parse, fallback=True)

    def _entry(self, status: str, text: str, prompt_version: str, generation=None) -> dict:
        return {
            "status": status, "text": text, "model_id": self.generator.model_id, "prompt_version": prompt_version,
            "tokens_in": generation.tokens_in if generation else 0,
            "tokens_out": generation.tokens_out if generation else 0,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def _from_cache(self, entry: dict, prompt: ChatPrompt, key: str, parse: Parser) -> Outcome | None:
        if entry.get("status") == INVALID:
            return self._template(prompt, key, parse, fallback=True, cached=True)
        if entry.get("status") != OK:
            return None
        try:
            value = parse(entry["text"], prompt, True)
        except (InvalidOutput, KeyError, TypeError):
            return None  # the parser became stricter since: generate again
        return Outcome(value, self.generator.backend, self.generator.model_id, key, cached=True)

    def _template(self, prompt, key, parse, fallback=False, deferred=False, cached=False) -> Outcome:
        (generation,) = self.template.generate([prompt], self.config.max_new_tokens)
        value = parse(generation.text, prompt, False)  # the template always satisfies the schema
        return Outcome(value, self.template.backend, self.template.model_id, key, fallback, deferred, cached)
