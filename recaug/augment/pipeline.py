"""The augmentation stage: curated/ -> augment/ (enrichment, profiles, interactions, stats).

One generator (the model loads once) and one generation cache serve the three tasks.
Each output table is written atomically after its task, so an interrupted run leaves
the previous version of later tables intact and, through the cache, loses no
finished generation.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from pydantic import BaseModel, Field

from recaug import io
from recaug.augment.budget import (
    LLMBudget,
    SecondsPerPrompt,
    configured_seconds_per_prompt,
    duration,
    measured_seconds_per_prompt,
)
from recaug.augment.cache import GenerationCache
from recaug.augment.enrich import enrich_items, write_enrichment
from recaug.augment.generator import Generator, create_generator
from recaug.augment.inputs import load_inputs
from recaug.augment.interactions import InteractionStats, augment_interactions, augmented_table, write_interactions
from recaug.augment.profiles import build_profiles, write_profiles
from recaug.augment.runner import GenerationRunner, TaskStats
from recaug.privacy.pseudonyms import Pseudonymiser

log = logging.getLogger(__name__)


class AugmentStats(BaseModel):
    """What one augmentation run did (written to augment/stats.json, shown in the run report)."""

    run_id: str | None
    enabled: bool
    backend: str = ""
    model_id: str = ""
    items: TaskStats | None = None
    profiles: TaskStats | None = None
    interactions: InteractionStats | None = None
    generations: int = Field(0, description="model calls of all tasks (0 on a rerun over unchanged data)")
    cache_hits: int = 0
    fallbacks: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    finished_at: str = ""
    outputs: dict[str, str] = Field(default_factory=dict)
    data_flow: dict[str, str] = Field(
        default_factory=dict, description="where each task that may prompt sends its prompts, under which policy"
    )


def run_augmentation(settings, generator: Generator | None = None, progress: bool | None = None) -> AugmentStats:
    """Run item enrichment, user profiles and interaction augmentation over curated/.

    `generator` overrides the configured backend (tests and benchmarks pass a loaded one).
    """
    started = time.perf_counter()
    cfg = settings.augment
    lake = settings.lake
    if not cfg.enabled:
        return _disabled(settings)
    inputs = load_inputs(settings)
    own_generator = generator is None
    generator = generator or create_generator(cfg.backend)
    try:
        budget = LLMBudget(cfg.max_llm_prompts_per_run if generator.backend != "template" else 0)
        rate = (measured_seconds_per_prompt(_previous_stats(settings), generator.model_id)
                or configured_seconds_per_prompt(cfg.backend))
        _announce_run(settings, inputs, generator, rate)
        runner = GenerationRunner(generator, GenerationCache(lake.url("cache", "generations")), cfg, progress, budget, rate,
                                  pseudonymise=Pseudonymiser.for_lake(settings))
        flows = runner.privacy.check(_prompting_tasks(cfg, generator))  # refuse before the first prompt is sent
        for flow in flows.values():
            log.info("augment: %s prompts go %s", flow.task, flow.describe())
        enrichment, item_stats = enrich_items(settings, inputs, runner)
        outputs = {"item_enrichment": write_enrichment(settings, enrichment)}
        profiles, profile_stats = build_profiles(settings, inputs, runner)
        outputs["user_profiles"] = write_profiles(settings, profiles)
        if cfg.interactions.enabled:
            augmented, interaction_stats = augment_interactions(settings, inputs, runner)
        else:
            augmented, interaction_stats = augmented_table([]), None
        outputs["interactions"] = write_interactions(settings, augmented)
        outputs["stats"] = lake.url("augment", "stats.json")
    finally:
        if own_generator:
            generator.close()
    tasks = [s for s in (item_stats, profile_stats, interaction_stats) if s is not None]
    stats = AugmentStats(
        run_id=settings.run_id, enabled=True, backend=generator.backend, model_id=generator.model_id,
        items=item_stats, profiles=profile_stats, interactions=interaction_stats,
        data_flow={task: flow.describe() for task, flow in flows.items()},
        generations=sum(s.generations for s in tasks), cache_hits=sum(s.cache_hits for s in tasks),
        fallbacks=sum(s.fallbacks for s in tasks), tokens_in=sum(s.tokens_in for s in tasks),
        tokens_out=sum(s.tokens_out for s in tasks), seconds=round(time.perf_counter() - started, 3),
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), outputs=outputs,
    )
    io.write_json(outputs["stats"], stats.model_dump(mode="json"))
    log.info("augment: %d generations, %d cache hits, %d fallbacks in %.1fs (%s)",
             stats.generations, stats.cache_hits, stats.fallbacks, stats.seconds, stats.model_id)
    return stats


def _prompting_tasks(cfg, generator: Generator) -> list[str]:
    """The tasks that may send prompts this run (a cap of 0 or a budget of 0 sends none)."""
    if generator.backend == "template" or cfg.max_llm_prompts_per_run == 0:
        return []
    caps = {"item": cfg.max_items_per_run, "profile": cfg.max_profiles_per_run,
            "pick": cfg.interactions.max_users_per_run if cfg.interactions.enabled else 0}
    return [task for task, cap in caps.items() if cap > 0]


def _previous_stats(settings) -> dict | None:
    url = settings.lake.url("augment", "stats.json")
    return io.read_json(url) if io.exists(url) else None


def _announce_run(settings, inputs, generator: Generator, rate: SecondsPerPrompt) -> None:
    """Before any model call: the most prompts this run may send and what they would cost."""
    cfg = settings.augment
    if generator.backend == "template":
        log.info("augment: template backend, no LLM call (%d items, %d users)", len(inputs.items),
                 inputs.interactions["user_id"].nunique())
        return
    users = inputs.interactions.groupby("user_id").size()
    caps = {"items": min(len(inputs.items), cfg.max_items_per_run),
            "profiles": min(len(users), cfg.max_profiles_per_run),
            "picks": min(int((users <= cfg.interactions.sparse_max_events).sum()), cfg.interactions.max_users_per_run)
            if cfg.interactions.enabled else 0}
    most = min(sum(caps.values()), cfg.max_llm_prompts_per_run)
    log.info("augment: at most %d LLM prompts this run (budget %d shared by items <= %d, profiles <= %d, picks <= %d; "
             "answers cached by earlier runs are not sent again); estimated at most %s at %.1f s per prompt (%s)",
             most, cfg.max_llm_prompts_per_run, caps["items"], caps["profiles"], caps["picks"],
             duration(most * rate.seconds), rate.seconds, rate.source)


def _disabled(settings) -> AugmentStats:
    """Empty outputs, so downstream stages never train on augmentation from an earlier run."""
    import pandas as pd

    from recaug.augment import enrich, profiles

    enrichment = pd.DataFrame({c: pd.Series(dtype="bool" if c in ("fallback", "deferred") else "string") for c in enrich.COLUMNS})
    users = pd.DataFrame({c: pd.Series(dtype="bool" if c in ("fallback", "deferred") else "string") for c in profiles.COLUMNS})
    outputs = {
        "item_enrichment": write_enrichment(settings, enrichment),
        "user_profiles": write_profiles(settings, users),
        "interactions": write_interactions(settings, augmented_table([])),
        "stats": settings.lake.url("augment", "stats.json"),
    }
    stats = AugmentStats(run_id=settings.run_id, enabled=False, outputs=outputs,
                         finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    io.write_json(outputs["stats"], stats.model_dump(mode="json"))
    log.info("augment: disabled (augment.enabled=false); wrote empty outputs")
    return stats
