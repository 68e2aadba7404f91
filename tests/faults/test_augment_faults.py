"""Faults of the LLM endpoint during augmentation, at its HTTP protocol boundary (the local
OpenAI-compatible server of tests/llm_server.py): garbage bodies (HTML, invalid JSON,
truncated, wrong schema), 500s and timeouts mid-run, and the endpoint vanishing mid-run.

Each case checks that the run ends as designed (finished with the failures replaced by
templates and counted, or stopped with a clear error), that every output row is well
formed, that the generation cache holds only valid generations, and that a rerun against
a healthy endpoint asks it for exactly what fell back and reuses everything else:
nothing is lost."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from augment_lake import ITEMS, with_augment, write_curated
from llm_server import LLMServer, well_formed_reply

from recaug import io
from recaug.augment import enrich, outputs, profiles
from recaug.augment.cache import INVALID, OK
from recaug.augment.generator import GeneratorUnavailable
from recaug.augment.outputs import ItemText, ProfileText
from recaug.augment.pipeline import run_augmentation

VALID_ITEM = json.dumps({"description": "A sturdy thing for daily use.", "keywords": ["daily"], "attributes": {}})


def envelope(content, usage) -> bytes:
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}], "usage": usage}).encode()


# (what the endpoint does, how often in a row): with one request in flight at a time and
# two transport attempts per prompt, each "x2" fault makes one item prompt fall back.
GARBAGE = [
    (None, 1),
    (("raw", 200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"), 2),
    ("malformed", 2),  # invalid JSON
    (("truncated", envelope(VALID_ITEM, {})), 2),  # Content-Length promises more than arrives
    (("raw", 200, envelope(None, {}), "application/json"), 1),  # wrong schema: content is null
    ("no_choices", 1),  # wrong schema: no choices
    (("status", 500, {}), 2),
    ("timeout", 2),  # longer than the client's timeout
    (("raw", 200, envelope(VALID_ITEM, {"prompt_tokens": "many", "completion_tokens": [1]}), "application/json"), 1),
    (("reply", "<html><body>Service temporarily unavailable</body></html>"), 1),  # text, not JSON: retried with sampling
]
TRANSPORT_FALLBACKS = 6  # HTML page, invalid JSON, truncated, wrong schema, 500, timeout


@pytest.fixture
def llm_server():
    server = LLMServer().start()
    yield server
    server.stop()


def augment_settings(settings, server: LLMServer, **augment):
    backend = {"type": "openai", "base_url": server.base_url, "model": "test-model", "api_key_env": None,
               "timeout_seconds": 0.5, "max_retries": 1, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.02,
               "requests_per_second": 1000.0, "max_concurrency": 1}
    return with_augment(settings, backend=backend, max_attempts=2, interactions={"sparse_max_events": 2}, **augment)


def read(settings, name: str) -> pd.DataFrame:
    return io.read_parquet(settings.lake.url("augment", f"{name}.parquet"))


def cache_entries(settings) -> list[dict]:
    root = settings.lake.local("cache", "generations")
    return [json.loads(line) for shard in sorted(root.glob("*.jsonl")) for line in shard.read_text().splitlines()]


def assert_tables_well_formed(settings) -> None:
    """Every curated item and user has exactly one row, each passing the output schema."""
    items = read(settings, "item_enrichment")
    assert list(items.columns) == enrich.COLUMNS
    assert sorted(items["item_id"]) == sorted(i for i, *_ in ITEMS)
    for row in items.itertuples():
        ItemText(description=row.description, keywords=row.keywords.split("|"), attributes=json.loads(row.attributes_json))
        assert "<" not in row.description and "Gateway" not in row.description and "unavailable" not in row.description
        assert (row.backend == "template") == bool(row.fallback or row.deferred)
    users = read(settings, "user_profiles")
    assert list(users.columns) == profiles.COLUMNS and users["user_id"].is_unique and len(users) == 7
    assert all(ProfileText(profile=p) for p in users["profile"])
    augmented = read(settings, "interactions")
    assert ((augmented["confidence"] > 0) & (augmented["confidence"] <= 1)).all()
    assert (augmented["source"] == "augmented").all()


def assert_cache_holds_only_valid_generations(settings) -> None:
    parsers = {
        settings.augment.prompts.item: lambda t: outputs.parse_item(
            t, settings.augment.max_description_chars, settings.augment.max_keywords, settings.augment.attribute_keys, True),
        settings.augment.prompts.profile: lambda t: outputs.parse_profile(t, settings.augment.max_profile_chars, True),
        settings.augment.prompts.pick: lambda t: outputs.parse_pick(t, settings.augment.interactions.candidates, 1),
    }
    for entry in cache_entries(settings):
        assert entry["status"] in (OK, INVALID), entry
        if entry["status"] == OK:
            parsers[entry["prompt_version"]](entry["text"])  # raises on anything but a valid generation


def test_garbage_and_timeouts_mid_run_fall_back_then_a_healthy_rerun_fills_in(settings, llm_server):
    write_curated(settings)
    for action, times in GARBAGE:
        llm_server.plan.extend([action] * times)
    settings = augment_settings(settings, llm_server)

    first = run_augmentation(settings)
    assert not llm_server.plan, "every scripted fault reached the client"
    assert first.items.transport_errors == TRANSPORT_FALLBACKS and first.items.fallbacks == TRANSPORT_FALLBACKS
    assert first.items.invalid_outputs == 1 and first.items.retries == 1  # the HTML text, recovered by the retry
    assert first.profiles.fallbacks == 0 and first.interactions.fallbacks == 0
    assert first.fallbacks == TRANSPORT_FALLBACKS
    items = read(settings, "item_enrichment")
    assert items["fallback"].sum() == TRANSPORT_FALLBACKS
    assert_tables_well_formed(settings)
    assert_cache_holds_only_valid_generations(settings)
    cached = {e["key"] for e in cache_entries(settings)}
    fell_back = items.loc[items["fallback"], "content_hash"]
    assert not set(fell_back) & cached, "an endpoint failure was cached"
    valid_first = items.loc[~items["fallback"]].set_index("item_id")

    llm_server.requests.clear()
    second = run_augmentation(settings)  # the endpoint is healthy again
    assert len(llm_server.requests) == TRANSPORT_FALLBACKS, "only what fell back is asked again"
    assert second.items.generations == TRANSPORT_FALLBACKS and second.items.cache_hits == len(ITEMS) - TRANSPORT_FALLBACKS
    assert second.fallbacks == 0 and second.profiles.cache_hits == 7 and second.interactions.cache_hits == 3
    items = read(settings, "item_enrichment").set_index("item_id")
    assert not items["fallback"].any() and set(items["backend"]) == {"openai"}
    pd.testing.assert_frame_equal(items.loc[valid_first.index], valid_first)  # valid generations reused as they were
    assert_tables_well_formed(settings)
    assert_cache_holds_only_valid_generations(settings)
    assert sum(e["status"] == OK for e in cache_entries(settings)) == len(ITEMS) + 7 + 3


def test_an_endpoint_vanishing_mid_run_stops_the_stage_and_loses_nothing(settings, llm_server, tmp_path):
    write_curated(settings)
    settings = augment_settings(settings, llm_server, chunk_size=3)
    run_augmentation(with_augment(settings, backend={"type": "template"}))  # an earlier run's outputs
    earlier = {name: read(settings, name) for name in ("item_enrichment", "user_profiles", "interactions")}
    answered = []

    def vanish_after_four(body):
        answered.append(body)
        if len(answered) == 4:  # the host goes away before this reply: later connections are refused
            llm_server.httpd.shutdown()
            llm_server.httpd.server_close()
        return well_formed_reply(body)

    llm_server.default = vanish_after_four
    with pytest.raises(GeneratorUnavailable, match="cannot connect"):
        run_augmentation(settings)
    for name, table in earlier.items():
        pd.testing.assert_frame_equal(read(settings, name), table)  # nothing half-written
    assert_cache_holds_only_valid_generations(settings)
    saved = [e for e in cache_entries(settings) if e["status"] == OK]
    assert len(saved) == 3, "the finished chunk (3 items) was kept"

    replacement = LLMServer().start()  # the endpoint back, at another address
    try:
        resumed = augment_settings(settings, replacement, chunk_size=3)
        stats = run_augmentation(resumed)
        assert stats.items.cache_hits == 3 and stats.items.generations == len(ITEMS) - 3
        assert stats.fallbacks == 0 and len(replacement.requests) == len(ITEMS) - 3 + 7 + 3
    finally:
        replacement.stop()
    assert_tables_well_formed(resumed)
    assert not read(resumed, "item_enrichment")["fallback"].any()
    assert_cache_holds_only_valid_generations(resumed)
