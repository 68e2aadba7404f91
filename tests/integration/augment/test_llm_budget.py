"""The run's LLM budget is honest: it caps every LLM prompt of a run (items, profiles and
picks together), 0 sends nothing, and the task log says before and during generation
how many prompts, how long, and how far it got."""

from __future__ import annotations

import logging
import re

from recaug import io
from recaug.augment.pipeline import run_augmentation


def read(settings, name: str):
    return io.read_parquet(settings.lake.url("augment", f"{name}.parquet"))


def test_budget_zero_sends_no_request_and_defers_everything(openai_settings, llm_server):
    settings = openai_settings(max_llm_prompts_per_run=0, interactions={"sparse_max_events": 1})
    stats = run_augmentation(settings)
    assert llm_server.requests == []
    assert stats.generations == 0
    assert stats.items.deferred == 8 and stats.profiles.deferred == 6 and stats.interactions.deferred == 2
    assert set(read(settings, "item_enrichment")["backend"]) == {"template"}
    assert set(read(settings, "user_profiles")["backend"]) == {"template"}
    assert len(read(settings, "interactions")) == 2  # picks still made, by the retriever's order


def test_budget_zero_never_loads_the_local_model(curated):
    from augment_lake import with_augment

    from recaug.augment.backends.transformers_local import TransformersGenerator
    from recaug.augment.config import TransformersBackendConfig

    generator = TransformersGenerator(TransformersBackendConfig(num_threads=1))
    settings = with_augment(curated, backend={"type": "transformers"}, max_llm_prompts_per_run=0)
    stats = run_augmentation(settings, generator=generator)
    assert stats.generations == 0 and stats.items.deferred == 8
    assert generator._model is None  # nothing loaded: the run cost no LLM time at all


def test_budget_is_shared_by_items_then_profiles_then_picks(openai_settings, llm_server):
    settings = openai_settings(max_llm_prompts_per_run=10, interactions={"sparse_max_events": 1})
    stats = run_augmentation(settings)
    assert len(llm_server.requests) == 10 == stats.generations
    assert (stats.items.llm_prompts, stats.profiles.llm_prompts, stats.interactions.llm_prompts) == (8, 2, 0)
    assert (stats.items.deferred, stats.profiles.deferred, stats.interactions.deferred) == (0, 4, 2)
    profiles = read(settings, "user_profiles")
    assert (profiles["backend"] == "openai").sum() == 2 and profiles["deferred"].sum() == 4

    llm_server.requests.clear()
    rerun = run_augmentation(settings)  # cached answers are free: the budget goes to what is left
    assert rerun.cache_hits == 10
    assert (rerun.profiles.llm_prompts, rerun.interactions.llm_prompts) == (4, 2)
    assert len(llm_server.requests) == 6


def test_task_caps_still_apply_inside_the_budget(openai_settings, llm_server):
    settings = openai_settings(max_llm_prompts_per_run=100, max_items_per_run=3, max_profiles_per_run=1,
                               interactions={"sparse_max_events": 1, "max_users_per_run": 0})
    stats = run_augmentation(settings)
    assert (stats.items.llm_prompts, stats.profiles.llm_prompts, stats.interactions.llm_prompts) == (3, 1, 0)
    assert len(llm_server.requests) == 4


def test_log_estimates_time_before_and_shows_progress_per_chunk(openai_settings, llm_server, caplog):
    settings = openai_settings(backend={"seconds_per_prompt": 1.5}, chunk_size=3, max_profiles_per_run=0,
                               interactions={"enabled": False})
    with caplog.at_level(logging.INFO, logger="recaug.augment"):
        run_augmentation(settings)
    lines = [r.getMessage() for r in caplog.records]
    run_line = next(line for line in lines if line.startswith("augment: at most"))
    assert "at most 8 LLM prompts" in run_line and "estimated at most 12 s at 1.5 s per prompt" in run_line
    assert "configured estimate augment.backend.seconds_per_prompt for the openai backend" in run_line
    task_line = next(line for line in lines if line.startswith("item: 8 prompts for the LLM"))
    assert "estimated 12 s at 1.5 s per prompt" in task_line
    progress = [line for line in lines if re.match(r"item: \d+/8 prompts done", line)]
    assert [line.split(" prompts done")[0] for line in progress] == ["item: 3/8", "item: 6/8", "item: 8/8"]
    assert all(re.search(r"\d+\.\d\d prompts/s .* about .+ left", line) for line in progress)
    assert progress[-1].split("about ")[1].startswith("0 s left")

    # the next run estimates with the time this one measured for the same model
    caplog.clear()
    llm_server.requests.clear()
    changed = openai_settings(backend={"seconds_per_prompt": 1.5}, max_profiles_per_run=0, prompts={"item": "item-v2"},
                              interactions={"enabled": False})
    with caplog.at_level(logging.INFO, logger="recaug.augment"):
        run_augmentation(changed)
    run_line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("augment: at most"))
    assert "measured by the last run (8 prompts in" in run_line


def test_cli_budget_zero_sends_nothing(curated, llm_server, capsys):
    from recaug.cli import main

    code = main(["augment", "--lake", curated.lake_root, "--set", "augment.backend.type=openai", "--set",
                 f"augment.backend.base_url={llm_server.base_url}", "--budget", "0", "--json"])
    assert code == 0 and llm_server.requests == []
    assert '"deferred": 8' in capsys.readouterr().out
    assert main(["augment", "--lake", curated.lake_root, "--budget", "-1"]) == 2
    assert "--budget must be >= 0" in capsys.readouterr().err
