from __future__ import annotations

import pandas as pd

from recaug.embed.texts import item_text, item_texts, user_texts


def test_item_text_joins_present_fields_only():
    assert item_text("Heat (1995)", None, None, "Action|Crime") == "Heat (1995). Categories: Action, Crime"
    text = item_text("Mug", "Hand-made.", "kitchen| gift ", "Home", "A sturdy mug", "coffee|tea")
    assert text == "Mug. Hand-made. Categories: Home. Tags: kitchen, gift. A sturdy mug. Keywords: coffee, tea"


def test_item_texts_add_enrichment_by_id():
    items = pd.DataFrame({"item_id": ["1", "2"], "title": ["A", "B"], "categories": ["x", None]})
    enrichment = pd.DataFrame({"item_id": ["2"], "description": ["llm words"], "keywords": ["k1|k2"]})
    out = item_texts(items, enrichment)
    assert out["item_id"].tolist() == ["1", "2"]
    assert out["text"].tolist() == ["A. Categories: x", "B. llm words. Keywords: k1, k2"]
    assert item_texts(items, None)["text"].tolist() == ["A. Categories: x", "B"]


def test_user_texts_normalise_whitespace():
    out = user_texts(pd.DataFrame({"user_id": [7], "profile": ["likes  jazz\n and rock"]}))
    assert out.to_dict("records") == [{"user_id": "7", "text": "likes jazz and rock"}]


def test_user_texts_leave_out_template_profiles():
    profiles = pd.DataFrame({"user_id": ["a", "b", "c"], "profile": ["likes jazz", "Recently: x, y", "rock"],
                             "backend": pd.Series(["hf", "template", None], dtype="string")})
    assert user_texts(profiles)["user_id"].tolist() == ["a", "c"]
