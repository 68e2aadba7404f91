"""The augmentation stage over an OpenAI-compatible endpoint: cache, budget, retries, fallback."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recaug import io
from recaug.augment.generator import GeneratorUnavailable
from recaug.augment.outputs import ItemText, ProfileText
from recaug.augment.pipeline import run_augmentation


def read(settings, name: str) -> pd.DataFrame:
    return io.read_parquet(settings.lake.url("augment", f"{name}.parquet"))


def test_llm_outputs_are_stored_and_rerun_makes_zero_requests(openai_settings, llm_server):
    settings = openai_settings(interactions={"sparse_max_events": 1})
    first = run_augmentation(settings)
    requests_first = len(llm_server.requests)
    assert first.generations == requests_first == 8 + 6 + 2  # items + profiles + sparse users
    assert first.fallbacks == 0 and first.cache_hits == 0
    assert first.tokens_in > 0 and first.tokens_out > 0
    items = read(settings, "item_enrichment")
    assert set(items["backend"]) == {"openai"} and set(items["model_id"]) == {"openai:test-model"}
    assert items.loc[items["item_id"] == "i05", "description"].item() == "A well made camping tent for everyday use."
    assert json.loads(items["attributes_json"].iloc[0]) == {"audience": "adults", "style": "modern"}
    augmented = read(settings, "interactions")
    assert set(augmented["user_id"]) == {"u5", "u6"}

    second = run_augmentation(settings)
    assert len(llm_server.requests) == requests_first  # nothing sent
    assert second.generations == 0 and second.cache_hits == first.generations
    pd.testing.assert_frame_equal(read(settings, "item_enrichment"), items)
    pd.testing.assert_frame_equal(read(settings, "interactions"), augmented)
    stats = io.read_json(settings.lake.url("augment", "stats.json"))
    assert stats["generations"] == 0 and stats["items"]["cache_hits"] == 8


def test_changed_item_regenerates_only_that_item(openai_settings, llm_server):
    settings = openai_settings(interactions={"enabled": False})
    run_augmentation(settings)
    items = io.read_parquet(settings.lake.items)
    items.loc[items["item_id"] == "i02", "title"] = "Merino Running Socks"
    io.write_parquet(items, settings.lake.items)
    llm_server.requests.clear()
    stats = run_augmentation(settings)
    assert stats.items.generations == 1 and stats.items.cache_hits == 7
    # i02 appears in the histories of u1 and u2, so exactly their profiles change too
    assert stats.profiles.generations == 2


def test_budget_prioritises_cold_items_and_defers_the_rest(openai_settings, llm_server):
    settings = openai_settings(max_items_per_run=3, max_profiles_per_run=0, interactions={"enabled": False})
    first = run_augmentation(settings)
    items = read(settings, "item_enrichment").set_index("item_id")
    llm_items = set(items.index[items["backend"] == "openai"])
    # never-interacted items first (i08 has 1 event; i05, i06 have 1 each; newest first among ties)
    assert first.items.llm_prompts == 3 and first.items.deferred == 5
    assert llm_items == {"i08", "i06", "i05"}
    assert items.loc[sorted(set(items.index) - llm_items), "deferred"].all()
    assert (items.loc[sorted(set(items.index) - llm_items), "backend"] == "template").all()
    assert first.profiles.deferred == 6 and first.profiles.llm_prompts == 0

    second = run_augmentation(settings)
    assert second.items.cache_hits == 3 and second.items.llm_prompts == 3 and second.items.deferred == 2
    third = run_augmentation(settings)
    assert third.items.cache_hits == 6 and third.items.deferred == 0
    assert not read(settings, "item_enrichment")["deferred"].any()


def test_every_budget_caps_the_prompts_the_endpoint_receives(openai_settings, llm_server):
    settings = openai_settings(max_items_per_run=2, max_profiles_per_run=3,
                               interactions={"sparse_max_events": 1, "max_users_per_run": 1})
    stats = run_augmentation(settings)
    # counted where the prompts arrive (the system message names the task), not by the stage
    asked = [r["body"]["messages"][0]["content"].split(" ", 2)[1] for r in llm_server.requests]
    assert sorted(asked) == ["describe"] * 2 + ["predict"] + ["summarise"] * 3
    assert (stats.items.budget, stats.items.llm_prompts, stats.items.deferred) == (2, 2, 6)
    assert (stats.profiles.budget, stats.profiles.llm_prompts, stats.profiles.deferred) == (3, 3, 3)
    assert (stats.interactions.budget, stats.interactions.llm_prompts, stats.interactions.deferred) == (1, 1, 1)
    assert read(settings, "item_enrichment")["deferred"].sum() == 6
    assert read(settings, "user_profiles")["deferred"].sum() == 3
    assert sorted(read(settings, "interactions")["backend"]) == ["openai", "template"]


def test_invalid_replies_are_retried_then_fall_back_and_the_failure_is_cached(openai_settings, llm_server):
    llm_server.default = lambda body: "I cannot help with that."  # never valid JSON
    settings = openai_settings(max_attempts=2, interactions={"enabled": False}, max_profiles_per_run=0)
    first = run_augmentation(settings)
    assert first.items.invalid_outputs == 16 and first.items.generations == 16 and first.items.retries == 8
    assert first.items.fallbacks == 8
    items = read(settings, "item_enrichment")
    assert items["fallback"].all() and set(items["backend"]) == {"template"}
    for row in items.itertuples():
        ItemText(description=row.description, keywords=row.keywords.split("|"), attributes=json.loads(row.attributes_json))
    llm_server.requests.clear()
    second = run_augmentation(settings)
    assert not llm_server.requests and second.items.fallbacks == 8 and second.items.cache_hits == 8


def test_retry_with_sampling_recovers_a_bad_first_reply(openai_settings, llm_server):
    def reply(body):
        if body["temperature"] == 0:
            return '{"profile": ""}'  # empty after cleaning: invalid
        return json.dumps({"profile": "Likes running gear and camping."})

    llm_server.default = reply
    settings = openai_settings(max_attempts=2, max_items_per_run=0, interactions={"enabled": False})
    stats = run_augmentation(settings)
    assert stats.profiles.invalid_outputs == 6 and stats.profiles.retries == 6 and stats.profiles.fallbacks == 0
    assert [r["body"]["temperature"] for r in llm_server.requests[-6:]] == [0.7] * 6
    profiles = read(settings, "user_profiles")
    assert set(profiles["profile"]) == {"Likes running gear and camping."}
    assert all(ProfileText(profile=p) for p in profiles["profile"])


def test_transport_failures_fall_back_without_poisoning_the_cache(openai_settings, llm_server):
    llm_server.plan.extend([("status", 503, {})] * 3)  # the first prompt fails all 3 attempts
    settings = openai_settings(
        backend={"max_concurrency": 1}, max_profiles_per_run=0, interactions={"enabled": False}
    )
    first = run_augmentation(settings)
    assert first.items.transport_errors == 1 and first.items.fallbacks == 1
    assert read(settings, "item_enrichment")["fallback"].sum() == 1
    second = run_augmentation(settings)  # the endpoint works again: only the failed item is asked
    assert second.items.generations == 1 and second.items.cache_hits == 7 and second.items.fallbacks == 0
    assert not read(settings, "item_enrichment")["fallback"].any()


def test_a_crash_keeps_finished_chunks_and_the_previous_outputs(openai_settings, llm_server):
    settings = openai_settings(chunk_size=2, max_profiles_per_run=0, interactions={"enabled": False})
    llm_server.plan.extend([None, None, ("status", 401, {})])  # third request: key revoked mid-run
    before = {"i01": "kept"}
    io.write_parquet(pd.DataFrame({"item_id": ["i01"], "description": ["kept"]}), settings.lake.url("augment", "item_enrichment.parquet"))
    with pytest.raises(GeneratorUnavailable, match="HTTP 401"):
        run_augmentation(settings)
    old = read(settings, "item_enrichment")
    assert dict(zip(old["item_id"], old["description"])) == before  # untouched
    llm_server.requests.clear()
    stats = run_augmentation(settings)
    assert stats.items.cache_hits == 2 and stats.items.generations == 6
