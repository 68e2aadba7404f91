from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaug import io
from recaug.features.build import build_features
from recaug.features.errors import FeatureInputError

T0 = pd.Timestamp("2026-03-02 10:00", tz="UTC")
D = pd.Timedelta(days=1)


def interactions(rows, source="observed"):
    return pd.DataFrame({
        "user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows], "timestamp": [r[2] for r in rows],
        "source": source, "confidence": 1.0,
    })


@pytest.fixture
def lake(settings):
    io.write_parquet(interactions([("a", "x", T0), ("a", "y", T0 + D), ("b", "x", T0 + 2 * D)]), settings.lake.interactions)
    io.write_parquet(pd.DataFrame({"item_id": ["x", "y"], "title": ["X", "Y"], "categories": ["c1", "c2"]}), settings.lake.items)
    io.write_parquet(interactions([("b", "y", T0 + D)], source="augmented"), settings.lake.url("augment", "interactions.parquet"))
    return settings


def behaviour(settings):
    return io.read_parquet(settings.lake.url("features", "user_behaviour.parquet"))


def test_build_writes_every_table_and_skips_unchanged_inputs(lake):
    first = build_features(lake)
    assert not first.skipped and set(first.tables) == {
        "item_content", "item_popularity", "user_behaviour", "user_history", "user_profile", "user_attributes"}
    assert first.n_events == 4 and first.items_without_embedding == 2
    assert all(io.exists(t.path) for t in first.tables.values())
    assert first.tables["user_profile"].rows == 0  # no embeddings/users.parquet yet
    assert first.tables["user_attributes"].rows == 0  # no curated/users.parquet
    again = build_features(lake)
    assert again.skipped and again.tables == first.tables


def test_late_row_reports_its_time_as_earliest_change(lake):
    first = build_features(lake)
    late = interactions([("a", "x", T0), ("a", "y", T0 + D), ("b", "x", T0 + 2 * D), ("a", "x", T0 + D + pd.Timedelta(hours=1))])
    io.write_parquet(late, lake.lake.interactions)
    second = build_features(lake)
    table = second.tables["user_behaviour"]
    assert table.changed_since == first.tables["user_behaviour"].sha256
    # a's day-2 snapshot moved from just after 10:00 to just after 11:00: both versions count as changed
    assert table.earliest_change == (T0 + D + pd.Timedelta(microseconds=1)).to_pydatetime()
    assert table.changed_rows == 2
    assert first.tables["user_behaviour"].earliest_change == (T0 + pd.Timedelta(microseconds=1)).to_pydatetime()
    assert not second.tables["item_content"].written  # nothing about items' content changed


def test_include_augmented_switches_augmented_rows(lake):
    build_features(lake)
    with_augmented = behaviour(lake)
    assert with_augmented.loc[with_augmented.user_id == "b", "n_augmented"].max() == 1
    lake.features.include_augmented = False
    result = build_features(lake)
    assert not result.skipped and result.n_events == 3
    assert behaviour(lake)["n_augmented"].max() == 0


def test_history_only_holds_observed_items(lake):
    build_features(lake)
    history = io.read_parquet(lake.lake.url("features", "user_history.parquet"))
    assert history[history.user_id == "b"]["history_item_ids"].map(list).tolist() == [["x"]]


def test_augmented_rows_must_be_marked(lake):
    io.write_parquet(interactions([("b", "y", T0)], source="observed"), lake.lake.url("augment", "interactions.parquet"))
    with pytest.raises(FeatureInputError, match=r"augment/interactions.parquet: row 0 column 'source' is 'observed'"):
        build_features(lake)


def test_missing_required_column_names_file_and_column(lake):
    io.write_parquet(pd.DataFrame({"user_id": ["a"], "timestamp": [T0]}), lake.lake.interactions)
    with pytest.raises(FeatureInputError, match=r"curated/interactions.parquet: .*missing required column\(s\) \['item_id'\]"):
        build_features(lake)


def test_ragged_embeddings_are_rejected_with_row(lake):
    io.write_parquet(pd.DataFrame({
        "item_id": ["x", "y"], "embedding": [np.ones(4, dtype=np.float32), np.ones(3, dtype=np.float32)],
        "encoder": "enc", "encoder_version": "1",
    }), lake.lake.url("embeddings", "items.parquet"))
    with pytest.raises(FeatureInputError, match=r"embeddings/items.parquet: row 1 column 'embedding' has length 3, expected 4"):
        build_features(lake)


def test_failed_build_leaves_previous_tables_untouched(lake):
    first = build_features(lake)
    io.write_parquet(pd.DataFrame({"user_id": ["a"], "item_id": [None], "timestamp": [T0]}), lake.lake.interactions)
    with pytest.raises(FeatureInputError, match="row 0 column 'item_id' is empty"):
        build_features(lake)
    assert all(io.sha256_file(t.path) == t.sha256 for t in first.tables.values())
