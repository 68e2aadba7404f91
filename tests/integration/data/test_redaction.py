"""privacy.dvc_remote_drop_columns with real DVC: the remote receives tables without the
personal columns, the local cache keeps the full data and a checkout restores it."""

from __future__ import annotations

import io as stdio
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from recaug.data.versioning import checkout_version, version_data
from recaug.settings import load_settings
from recaug.validate.ingest import ingest

pytestmark = pytest.mark.slow

T0 = 1_767_225_600
DROP = ["user_id", "age"]


def land(settings, name: str) -> None:
    batch = settings.lake.local("landing", name)
    batch.mkdir(parents=True)
    pd.DataFrame({"item_id": ["i1", "i2"], "title": ["One", "Two"]}).to_parquet(batch / "items.parquet")
    pd.DataFrame({"user_id": ["secret-user-1", "secret-user-2"], "age": [31, 47]}).to_parquet(batch / "users.parquet")
    pd.DataFrame({"user_id": ["secret-user-1", "secret-user-2", "secret-user-1"], "item_id": ["i1", "i2", "i2"],
                  "timestamp": [T0, T0 + 1, T0 + 2]}).to_csv(batch / "interactions.csv", index=False)


def remote_tables(remote: Path) -> list[list[str]]:
    """Column names of every table object in the DVC remote (objects are named by hash)."""
    tables = []
    for path in (p for p in remote.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if data[:4] == b"PAR1":
            tables.append(pq.read_schema(stdio.BytesIO(data)).names)
        elif b"item_id" in data.split(b"\n", 1)[0]:
            tables.append(data.split(b"\n", 1)[0].decode().split(","))
    return tables


@pytest.fixture
def lake_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("RECAUG_PARAMS", str(tmp_path / "no-params.yaml"))
    settings = load_settings({"lake_root": str(tmp_path / "lake"), "run_id": None,
                              "privacy": {"dvc_remote_drop_columns": DROP}})
    settings.lake.ensure()
    return settings


def test_the_remote_gets_tables_without_the_dropped_columns(lake_settings):
    settings = lake_settings
    land(settings, "2026-01-01")
    assert ingest(settings).accepted == ["2026-01-01"]
    manifest = version_data(settings)

    raw = manifest.targets["raw/2026-01-01"]
    assert raw.remote_copy == "redacted/raw/2026-01-01" and raw.dropped_columns == sorted(DROP)
    assert manifest.targets["curated"].remote_copy == "redacted/curated"
    tables = remote_tables(Path(manifest.remote))
    assert len(tables) >= 5  # raw items, users, interactions and the curated tables
    assert all(not set(DROP) & set(columns) for columns in tables), tables
    assert any("item_id" in columns and "timestamp" in columns for columns in tables)  # interactions, minus users
    assert not any(b"secret-user" in p.read_bytes() for p in Path(manifest.remote).rglob("*") if p.is_file())

    # the workspace and the local cache keep everything: a checkout restores the full tables
    curated = settings.lake.local("curated", "interactions.parquet")
    full = pd.read_parquet(curated)
    assert set(full["user_id"]) == {"secret-user-1", "secret-user-2"}
    curated.unlink()
    checkout_version(settings, manifest.version)
    pd.testing.assert_frame_equal(pd.read_parquet(curated), full)


def test_without_drop_columns_the_targets_themselves_are_pushed(lake_settings):
    settings = lake_settings.model_copy(update={"privacy": lake_settings.privacy.model_copy(update={"dvc_remote_drop_columns": []})})
    land(settings, "2026-01-01")
    ingest(settings)
    manifest = version_data(settings)
    assert all(t.remote_copy is None for t in manifest.targets.values())
    assert any("user_id" in columns for columns in remote_tables(Path(manifest.remote)))
