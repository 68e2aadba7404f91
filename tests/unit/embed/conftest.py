"""Embedding tests share one exported encoder per test session (export takes ~20 s)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def encoder_cache_dir(tmp_path_factory):
    # The same folder for unit and integration tests: the second user reuses the export.
    path = tmp_path_factory.getbasetemp() / "recaug-encoders"
    path.mkdir(exist_ok=True)
    return str(path)
