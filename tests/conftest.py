"""Fixtures shared by every test: an isolated data lake and settings pointing at it.

The whole session runs with a throwaway home (see `pytest_configure`): the tools under
test keep caches and settings in the user's home (matplotlib's font cache, onnxruntime's
device id, Airflow's `~/airflow`, DVC's global config and site cache, Hugging Face,
Feast and Great Expectations usage files), and a test run must leave that home as it
found it. tests/test_hermetic.py checks it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from hermetic_env import hermetic_environment
from recaug.logs import quiet_third_party

_session_env = pytest.MonkeyPatch()
_home_key = pytest.StashKey[Path]()


def pytest_configure(config):
    """Before any test module imports Airflow, matplotlib or DVC (they read these at import)."""
    home = Path(tempfile.mkdtemp(prefix="recaug-tests-home-"))
    config.stash[_home_key] = home
    for name, value in hermetic_environment(home, Path.home()).items():
        _session_env.setenv(name, value)
    quiet_third_party()


def pytest_unconfigure(config):
    _session_env.undo()
    home = config.stash.get(_home_key, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


# Cheap tiers first, so a broken unit shows in seconds, not after the end-to-end runs.
_TIER_ORDER = ("unit", "dags", "integration", "faults", "e2e")


def pytest_collection_modifyitems(config, items):
    """Run tests/unit first and tests/e2e last; the sort is stable, so each module stays whole."""
    def tier(item) -> int:
        parts = Path(str(item.path)).relative_to(config.rootpath).parts
        name = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
        return _TIER_ORDER.index(name) if name in _TIER_ORDER else len(_TIER_ORDER)

    items.sort(key=tier)


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
