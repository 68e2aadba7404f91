"""The data-flow policy against a real HTTP endpoint: the OpenAI-compatible test server
on the loopback, configured as external (`augment.privacy.endpoint_location=external`,
as for a loopback tunnel to a remote provider). Assertions are on the request bodies
the server actually received."""

from __future__ import annotations

import json
import re

import pytest

from recaug import io
from recaug.augment.pipeline import run_augmentation
from recaug.augment.privacy import PrivacyRefused

USER_ID = re.compile(r"\bu[0-9]+\b")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{10}\b")
EXTERNAL = {"endpoint_location": "external"}


def received(server, task_system_prefix: str) -> list[dict]:
    """The user messages (the data) of the requests whose system prompt starts with the prefix."""
    bodies = [r["body"] for r in server.requests if r["body"]["messages"][0]["content"].startswith(task_system_prefix)]
    return bodies


def test_external_endpoint_is_refused_by_default_and_nothing_is_sent(openai_settings, llm_server):
    settings = openai_settings(privacy=EXTERNAL)
    with pytest.raises(PrivacyRefused) as refused:
        run_augmentation(settings)
    message = str(refused.value)
    assert "augment task 'item'" in message and llm_server.base_url in message
    assert "augment.privacy.item=local_only" in message and "also refused: profile, pick" in message
    assert llm_server.requests == []
    assert not io.exists(settings.lake.url("augment", "item_enrichment.parquet"))


def test_the_same_endpoint_on_the_loopback_is_local_and_gets_full_prompts(openai_settings, llm_server):
    stats = run_augmentation(openai_settings())  # endpoint_location=auto: 127.0.0.1 is local
    assert stats.data_flow["profile"] == f"local endpoint {llm_server.base_url}"
    profile_bodies = received(llm_server, "You summarise")
    assert profile_bodies and all(DATE.search(b["messages"][-1]["content"]) for b in profile_bodies)


def test_pseudonymised_prompts_hold_no_user_ids_dates_or_history_titles(openai_settings, llm_server):
    settings = openai_settings(privacy={**EXTERNAL, "item": "allowed", "profile": "pseudonymised", "pick": "pseudonymised"},
                               interactions={"sparse_max_events": 1})
    stats = run_augmentation(settings)
    assert stats.data_flow == {t: f"{p} to external endpoint {llm_server.base_url}"
                               for t, p in (("item", "allowed"), ("profile", "pseudonymised"), ("pick", "pseudonymised"))}
    profiles, picks = received(llm_server, "You summarise"), received(llm_server, "You predict")
    assert len(profiles) == 6 and len(picks) == 2  # every user's profile, the two sparse users' picks
    for body in llm_server.requests:
        text = json.dumps(body)
        assert not USER_ID.search(text), text
        assert not DATE.search(text), text
    for body in profiles:
        for message in body["messages"][1:]:  # the worked example is minimised alike
            if message["role"] == "user":
                history = json.loads(re.search(r"<history>(.*)</history>", message["content"]).group(1))
                assert history and all(set(entry) == {"categories"} for entry in history)
    for body in picks:
        data = json.loads(re.search(r"<data>(.*)</data>", body["messages"][-1]["content"]).group(1))
        assert all("title" not in entry for entry in data["recent"])
        assert all("title" in entry for entry in data["candidates"])
    table = io.read_parquet(settings.lake.url("augment", "user_profiles.parquet"))
    assert set(table["backend"]) == {"openai"} and not table["fallback"].any()


def test_pseudonymised_keeps_titles_when_not_generalised(openai_settings, llm_server):
    settings = openai_settings(privacy={**EXTERNAL, "profile": "pseudonymised", "generalise_titles": False},
                               max_items_per_run=0, interactions={"enabled": False})
    run_augmentation(settings)
    profiles = received(llm_server, "You summarise")
    assert len(profiles) == len(llm_server.requests) == 6
    histories = [json.loads(re.search(r"<history>(.*)</history>", b["messages"][-1]["content"]).group(1)) for b in profiles]
    assert all(set(entry) == {"title", "categories"} for history in histories for entry in history)
    assert sum("Running Socks" in (e["title"] for e in history) for history in histories) == 2  # u1 and u2
    assert not any(DATE.search(json.dumps(b)) for b in profiles)


def test_allowed_sends_the_full_history(openai_settings, llm_server):
    settings = openai_settings(privacy={**EXTERNAL, "item": "allowed", "profile": "allowed", "pick": "allowed"})
    run_augmentation(settings)
    profiles = received(llm_server, "You summarise")
    assert profiles and all(DATE.search(b["messages"][-1]["content"]) for b in profiles)
    assert not any(USER_ID.search(json.dumps(b)) for b in llm_server.requests)  # ids are never sent


def test_a_task_with_no_prompt_cap_is_not_refused(openai_settings, llm_server):
    """Only item enrichment may prompt: the user tasks get the template and are not checked."""
    settings = openai_settings(privacy={**EXTERNAL, "item": "allowed"}, max_profiles_per_run=0,
                               interactions={"max_users_per_run": 0})
    stats = run_augmentation(settings)
    assert set(stats.data_flow) == {"item"}
    assert llm_server.requests and not received(llm_server, "You summarise") and not received(llm_server, "You predict")


def test_the_runner_enforces_the_policy_for_any_caller(openai_settings, openai_config, llm_server):
    """A caller that builds its own runner (a benchmark) cannot bypass the policy."""
    from recaug.augment.backends.openai_http import OpenAIGenerator
    from recaug.augment.cache import GenerationCache
    from recaug.augment.inputs import load_inputs
    from recaug.augment.profiles import build_profiles
    from recaug.augment.runner import GenerationRunner

    settings = openai_settings(privacy=EXTERNAL)
    generator = OpenAIGenerator(openai_config())
    runner = GenerationRunner(generator, GenerationCache(settings.lake.url("cache", "generations")), settings.augment)
    with pytest.raises(PrivacyRefused, match="augment task 'profile'"):
        build_profiles(settings, load_inputs(settings), runner)
    generator.close()
    assert llm_server.requests == []
