"""bench/bench_quality.py: the default dataset comes from the project root, not one machine's path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "bench_quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_dataset_is_resolved_beside_the_repository_root():
    bench = _bench()
    assert bench.DATASETS == ROOT.parent / "shared" / "datasets"
    assert bench.resolve_dataset(str(ROOT)) == ROOT  # a given directory is used as is


def test_default_dataset_found_under_the_given_shared_folder(tmp_path):
    (tmp_path / "ml-latest-small").mkdir()
    assert _bench().resolve_dataset(None, tmp_path) == tmp_path / "ml-latest-small"


def test_missing_dataset_error_names_the_path(tmp_path):
    bench = _bench()
    with pytest.raises(SystemExit, match=str(tmp_path / "ml-latest-small")):
        bench.resolve_dataset(None, tmp_path)
    with pytest.raises(SystemExit, match="nowhere"):
        bench.resolve_dataset(str(tmp_path / "nowhere"), tmp_path)
