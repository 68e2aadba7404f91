from __future__ import annotations

import numpy as np
import pandas as pd

from recaug.data.schemas import INTERACTIONS, ITEMS, conform
from recaug.features import item_tables
from recaug.features.enrichment import attribute_columns
from recaug.features.inputs import Embeddings

T0 = pd.Timestamp("2026-03-02 10:00", tz="UTC")
D = pd.Timedelta(days=1)


def events(rows):
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return conform(frame, INTERACTIONS)


def content(ev, items, enrichment, embeddings, default_dim):
    return item_tables.item_content(ev, items, enrichment, embeddings, default_dim, attribute_columns(enrichment)[0])


def test_content_fills_missing_embeddings_with_flagged_zeros():
    items = conform(pd.DataFrame({
        "item_id": ["x", "y"], "title": ["X", "Y"], "first_seen": [T0 - D, T0 + 5 * D],
    }), ITEMS)
    ev = events([("a", "y", T0 + D), ("a", "w", T0 + 2 * D)])  # w: interacted but not in the catalogue
    enrichment = pd.DataFrame({"item_id": ["x"], "keywords": ["k1|k2"], "description": ["An x, written by the LLM."]})
    embeddings = Embeddings(ids=["x"], encoders=["enc@2"], vectors=np.full((1, 4), 0.5, dtype=np.float32))
    table = content(ev, items, enrichment, embeddings, default_dim=8).set_index("item_id")

    assert list(table.loc["x"].embedding) == [0.5] * 4 and table.loc["x"].has_embedding
    assert table.loc["x"].encoder == "enc@2" and table.loc["x"].keywords == "k1|k2"
    assert list(table.loc["y"].embedding) == [0.0] * 4 and not table.loc["y"].has_embedding
    # first seen = the earlier of catalogue entry and first interaction
    assert table.loc["x"].event_timestamp == T0 - D
    assert table.loc["y"].event_timestamp == T0 + D
    assert table.loc["w"].event_timestamp == T0 + 2 * D and table.loc["w"].keywords == ""
    assert table.loc["x"].llm_description == "An x, written by the LLM." and table.loc["w"].llm_description == ""


def test_content_serves_only_descriptions_the_llm_wrote():
    """Template rows (the LLM failed, or the run's budget was spent) keep their keywords but
    are not offered as LLM-written descriptions."""
    items = conform(pd.DataFrame({"item_id": ["x", "y", "z"], "title": ["X", "Y", "Z"]}), ITEMS)
    ev = events([("a", "x", T0)])
    enrichment = pd.DataFrame({"item_id": ["x", "y", "z"], "keywords": ["kx", "ky", "kz"],
                               "description": ["Written by the LLM.", "Template for y.", "Template for z."],
                               "fallback": [False, True, False], "deferred": [False, False, True]})
    table = content(ev, items, enrichment, None, default_dim=4).set_index("item_id")
    assert table["llm_description"].to_dict() == {"x": "Written by the LLM.", "y": "", "z": ""}
    assert table["keywords"].to_dict() == {"x": "kx", "y": "ky", "z": "kz"}


def test_content_without_any_embeddings_uses_configured_length():
    ev = events([("a", "x", T0)])
    table = content(ev, conform(pd.DataFrame({"item_id": [], "title": []}), ITEMS), None, None, default_dim=8)
    assert len(table.iloc[0].embedding) == 8 and not table.iloc[0].has_embedding


def test_popularity_counts_users_and_recent_window():
    ev = events([
        ("a", "x", T0), ("b", "x", T0 + 1 * D), ("a", "x", T0 + 1 * D + pd.Timedelta(hours=1)),
        ("c", "x", T0 + 9 * D), ("a", "y", T0),
    ])
    table = item_tables.item_popularity(ev, every="1D", window_days=7)
    x = table[table["item_id"] == "x"].sort_values("event_timestamp")
    assert x["item_n_events"].tolist() == [1, 3, 4]
    assert x["item_n_users"].tolist() == [1, 2, 3]
    # at day 9 only the day-9 event lies within the last 7 days
    assert x["item_n_events_recent"].tolist() == [1, 3, 1]
