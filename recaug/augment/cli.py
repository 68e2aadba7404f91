"""`recaug augment`: LLM item enrichment, user profiles and interaction augmentation."""

from __future__ import annotations

import json

BACKENDS = ("template", "transformers", "openai")


def register(commands) -> None:
    parser = commands.add(
        "augment", "enrich items, summarise users and augment sparse users' interactions (LLM, cached)", _augment
    )
    parser.add_argument("--backend", choices=BACKENDS,
                        help="generator backend (default: augment.backend.type); other options via --set augment.backend.*")
    parser.add_argument("--budget", type=int, metavar="N",
                        help="LLM prompts this run over all tasks, items then profiles then picks; 0: no LLM call "
                        "(augment.max_llm_prompts_per_run)")
    parser.add_argument("--max-items", type=int, metavar="N", help="cap on LLM item prompts this run (augment.max_items_per_run)")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")


def _augment(args, settings) -> int:
    from recaug.augment.pipeline import run_augmentation

    settings = with_cli_options(settings, args.backend, args.max_items, args.budget)
    stats = run_augmentation(settings, progress=True)
    if args.json:
        print(json.dumps(stats.model_dump(mode="json"), indent=2))
    elif stats.enabled:
        print(f"augment ({stats.model_id}): {stats.generations} generations, {stats.cache_hits} cache hits, "
              f"{stats.fallbacks} fallbacks, {stats.tokens_in}/{stats.tokens_out} tokens in/out, {stats.seconds:.1f}s")
        for task in (stats.items, stats.profiles, stats.interactions):
            if task is not None:
                print(f"  {task.task}: {task.outputs} outputs, {task.llm_prompts} LLM prompts, "
                      f"{task.deferred} deferred, {task.fallbacks} fallbacks")
        print(f"  outputs in {stats.outputs['stats'].rsplit('/', 1)[0]}")
    else:
        print("augment: disabled (augment.enabled=false); wrote empty outputs")
    return 0


def with_cli_options(settings, backend: str | None, max_items: int | None, budget: int | None = None):
    """Settings with --backend / --max-items / --budget applied; a switched backend starts from its defaults."""
    from pydantic import TypeAdapter

    from recaug.augment.config import BackendConfig

    augment = settings.augment
    if backend and backend != augment.backend.type:
        augment = augment.model_copy(update={"backend": TypeAdapter(BackendConfig).validate_python({"type": backend})})
    for flag, setting, value in (("--max-items", "max_items_per_run", max_items), ("--budget", "max_llm_prompts_per_run", budget)):
        if value is None:
            continue
        if value < 0:
            from recaug.errors import ConfigError

            raise ConfigError(f"{flag} must be >= 0, got {value}")
        augment = augment.model_copy(update={setting: value})
    return settings.model_copy(update={"augment": augment})
