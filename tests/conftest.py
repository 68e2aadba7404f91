"""Fixtures shared by every test: an isolated data lake and settings pointing at it."""

from __future__ import annotations

import os

import pytest

from recaug.logs import quiet_third_party

quiet_third_party()
# Tests share two cores with everything else; keep native thread pools small.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def lake_root(tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    return root


@pytest.fixture
def settings(lake_root, monkeypatch, tmp_path):
    """Settings with defaults, an empty lake in tmp and no params.yaml from the cwd."""
    from recaug.settings import load_settings

    monkeypatch.setenv("RECAUG_PARAMS", str(tmp_path / "no-params.yaml"))
    for key in list(os.environ):
        if key.startswith("RECAUG_") and key not in ("RECAUG_PARAMS",) and not key.startswith("RECAUG_TEST_"):
            monkeypatch.delenv(key)
    s = load_settings({"lake_root": str(lake_root), "run_id": "test-run"})
    s.lake.ensure()
    return s
