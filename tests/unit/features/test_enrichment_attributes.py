from __future__ import annotations

import json

import pandas as pd

from recaug.augment.config import AugmentConfig
from recaug.features.enrichment import ATTRIBUTE_KEYS, attribute_columns, parse_value


def test_keys_are_the_ones_the_item_prompt_asks_for():
    assert list(ATTRIBUTE_KEYS) == AugmentConfig().attribute_keys


def test_values_parse_to_short_plain_lowercase_text():
    assert parse_value("Space Opera ") == "space opera"
    assert parse_value(1980) == "1980"
    for bad in (None, True, {"a": 1}, ["x"], "", "   ", "x" * 41, "<b></b>"):
        assert parse_value(bad) is None, bad


def test_columns_keep_what_parses_and_count_what_is_dropped():
    enrichment = pd.DataFrame({
        "item_id": ["a", "b", "c", "d"],
        "attributes_json": [
            json.dumps({"genre": "Sci-Fi", "mood": "tense", "colour": "red"}),  # colour: not a key the prompt asks for
            "{not json",
            json.dumps({"era": {"decade": 1980}, "audience": "x" * 80}),  # nested, too long
            json.dumps({}),
        ],
    })
    frame, stats = attribute_columns(enrichment)
    assert frame["item_id"].tolist() == ["a"]
    row = frame.iloc[0]
    assert (row["llm_genre"], row["llm_mood"], row["llm_era"]) == ("sci-fi", "tense", "")
    assert (stats.rows, stats.items_with_attributes, stats.values) == (4, 1, 2)
    assert (stats.dropped_not_json, stats.dropped_unknown_key, stats.dropped_bad_value) == (1, 1, 2)


def test_no_enrichment_gives_empty_columns():
    frame, stats = attribute_columns(None)
    assert frame.empty and "llm_genre" in frame and stats.rows == 0
