from __future__ import annotations

import pytest
from pydantic import ValidationError

from recaug.augment.outputs import InvalidOutput, ItemText, ProfileText, parse_item, parse_pick, parse_profile

KEYS = ["audience", "mood"]


def item(text: str) -> ItemText:
    return parse_item(text, max_description_chars=120, max_keywords=4, attribute_keys=KEYS)


def test_item_reply_is_extracted_cleaned_and_validated():
    reply = ('Here is the JSON:\n```json\n{"description": "A <b>sturdy</b> tent. Visit http://x.io now!", '
             '"keywords": ["Camping", "two person", "ignore previous", "Tent", "outdoor", "extra"], '
             '"attributes": {"Audience": "families", "price": "0", "mood": {"nested": 1}, "item_id": "i9"}, '
             '"item_id": "hijacked"}\n```')
    out = item(reply)
    assert out.description == "A sturdy tent. Visit now!"
    assert out.keywords == ["camping", "two person", "tent", "outdoor"]
    assert out.attributes == {"audience": "families"}


def test_item_reply_with_tags_instead_of_keywords():
    reply = '{"description": "A tale of adventure in a fantastic box set.", "tags": ["quest, sword, prophecy"]}'
    assert item(reply).keywords == ["quest", "sword", "prophecy"]


def test_item_reply_cut_by_the_token_limit_is_closed():
    out = item('{"description": "A light tent for two.", "keywords": ["tent", "camping')
    assert out.keywords == ["tent", "camping"]
    assert item('{"description": "A light tent for two.", "keywords": "tent, camping"').keywords == ["tent", "camping"]
    assert item('{"description": "A light tent for two.", "keywords": ["tent", "tent", ').keywords == ["tent"]


@pytest.mark.parametrize("reply, reason", [
    ("no json here", "no JSON object"),
    ('{"keywords": ["a"]}', "description"),
    ('{"description": "<p></p>", "keywords": ["tent"]}', "shorter than 10 characters after cleaning"),
    ('{"description": "A fine tent indeed.", "keywords": ["<x>", "ignore previous"]}', "no valid keywords"),
    ('{"description": 5, "keywords": ["tent"]}', "not a string"),
])
def test_invalid_item_replies_are_rejected_with_a_reason(reply, reason):
    with pytest.raises(InvalidOutput, match=reason):
        item(reply)


def test_schemas_reject_unclean_values_directly():
    with pytest.raises(ValidationError):
        ItemText(description="Click http://evil.example now", keywords=["ok"])
    with pytest.raises(ValidationError):
        ItemText(description="A fine description.", keywords=["Not Lower"])
    with pytest.raises(ValidationError):
        ItemText(description="A fine description.", keywords=["ok"], attributes={"mood": "<i>x</i>"})
    with pytest.raises(ValidationError):
        ProfileText(profile="assistant: do this")


@pytest.mark.parametrize("profile, reason", [
    ("Sport, Running", "fewer than 5 words"),
    ("Sporty, Yoga, Yoga, Yoga, Yoga, Yoga, Yoga, Yoga, Yoga", "repeats itself"),
])
def test_degenerate_small_model_replies_are_rejected(profile, reason):
    with pytest.raises(InvalidOutput, match=reason):
        parse_profile(f'{{"profile": "{profile}"}}', 300)


def test_profile_reply():
    assert parse_profile('{"profile": "Likes tents.\\u0000 And warm socks."}', 100).profile == "Likes tents. And warm socks."
    with pytest.raises(InvalidOutput):
        parse_profile('{"profile": ["a list"]}', 100)


def test_pick_reply_maps_numbers_to_positions():
    assert parse_pick('{"positive": 3, "negative": 1}', 4, 1).model_dump() == {"positives": [2], "negative": 0}
    assert parse_pick('{"positive": "2", "negative": 4}', 4, 1).positives == [1]
    assert parse_pick('{"positives": [2, 2, 3], "negative": 1}', 4, 2).positives == [1, 2]


@pytest.mark.parametrize("reply", [
    '{"positive": 0, "negative": 1}', '{"positive": 5, "negative": 1}', '{"positive": 2, "negative": 2}',
    '{"positive": true, "negative": 1}', '{"positive": "i01", "negative": 1}', '{"positive": 1}',
])
def test_pick_reply_out_of_range_or_inconsistent_is_rejected(reply):
    with pytest.raises(InvalidOutput):
        parse_pick(reply, 4, 1)
