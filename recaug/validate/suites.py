"""The expectation suites: GX suite files in `suites/`, one per landing table.

Limits that depend on configuration or on the lake (rating bounds, the current time,
known item ids) are written in the files as `{"$PARAMETER": name}` and supplied at run
time from `expectation_parameters(...)`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import pandas as pd

from recaug.data.schemas import SCHEMAS
from recaug.validate.config import ValidateConfig
from recaug.validate.frames import expected_columns

SUITES_DIR = Path(__file__).with_name("suites")


@lru_cache(maxsize=None)
def suite_file(table: str) -> dict:
    """The suite as stored in the repository (a GX ExpectationSuite in JSON)."""
    path = SUITES_DIR / f"{table}.json"
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def expectation_columns(expectation: dict) -> list[str]:
    kwargs = expectation["kwargs"]
    if "column" in kwargs:
        return [kwargs["column"]]
    return list(kwargs.get("column_list", []))


def suite_for(table: str, present_columns: set[str]) -> dict:
    """The suite restricted to columns present in the frame.

    A missing column is reported once by the column rules; its value rules are
    dropped instead of failing again with 'column not found'.
    """
    suite = json.loads(json.dumps(suite_file(table)))
    suite["expectations"] = [
        e
        for e in suite["expectations"]
        if e["type"] == "expect_column_to_exist" or all(c in present_columns for c in expectation_columns(e))
    ]
    return suite


def expectation_parameters(
    config: ValidateConfig, table: str, known_item_ids: set[str] | None, now: pd.Timestamp
) -> dict:
    params = {
        "expected_columns": expected_columns(SCHEMAS[table]),
        "min_timestamp": pd.Timestamp(config.min_timestamp, tz="UTC"),
        "max_timestamp": now + timedelta(minutes=config.future_tolerance_minutes),
        "rating_min": config.rating_min,
        "rating_max": config.rating_max,
        "max_text_chars": config.max_text_chars,
        "max_id_chars": config.max_id_chars,
    }
    if table == "interactions":
        params["known_item_ids"] = sorted(known_item_ids or ())
    return params
