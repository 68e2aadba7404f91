"""Fixtures of the feature-store tests: a small marketplace in the tmp lake."""

from __future__ import annotations

import pytest

from feature_market import marketplace, write_tables


@pytest.fixture
def market(settings):
    tables = marketplace()
    write_tables(settings, tables)
    return tables
