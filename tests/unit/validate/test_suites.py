from __future__ import annotations

import pandas as pd

from recaug.data.schemas import SCHEMAS
from recaug.validate.config import ValidateConfig
from recaug.validate.frames import expected_columns, wrong_type_column
from recaug.validate.suites import expectation_columns, expectation_parameters, suite_file, suite_for


def test_every_schema_column_has_a_type_rule_and_every_rule_a_known_column():
    for table, schema in SCHEMAS.items():
        suite = suite_file(table)
        typed = {e["kwargs"]["column"] for e in suite["expectations"] if e["meta"]["rule"] == "type"}
        assert typed == {wrong_type_column(c) for c in schema.names}
        exists = {e["kwargs"]["column"] for e in suite["expectations"] if e["type"] == "expect_column_to_exist"}
        assert exists == set(schema.required)
        for expectation in suite["expectations"]:
            assert set(expectation_columns(expectation)) <= set(expected_columns(schema)), expectation


def test_value_rules_of_missing_columns_are_dropped_but_existence_is_kept():
    suite = suite_for("interactions", {"user_id", "item_id"})
    types = {e["type"] for e in suite["expectations"] if "timestamp" in expectation_columns(e)}
    assert types == {"expect_column_to_exist"}


def test_parameters_come_from_settings():
    config = ValidateConfig(rating_max=10, future_tolerance_minutes=0)
    now = pd.Timestamp("2026-02-01", tz="UTC")
    params = expectation_parameters(config, "interactions", {"b", "a"}, now)
    assert params["rating_max"] == 10 and params["max_timestamp"] == now
    assert params["known_item_ids"] == ["a", "b"]
    placeholders = {
        value["$PARAMETER"]
        for table in SCHEMAS
        for e in suite_file(table)["expectations"]
        for value in e["kwargs"].values()
        if isinstance(value, dict)
    }
    assert placeholders <= set(params)
