"""Real DVC on a lake inside a temporary git repository: version, change, restore."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from recaug.data.versioning import checkout_version, list_versions, load_version, version_data
from recaug.errors import RecaugError
from recaug.settings import load_settings
from recaug.validate.ingest import ingest

pytestmark = pytest.mark.slow

T0 = 1_767_225_600


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def land(settings, name: str, items: list[str], n: int) -> None:
    import pandas as pd

    batch = settings.lake.local("landing", name)
    batch.mkdir(parents=True)
    pd.DataFrame({"item_id": items, "title": [f"title {i}" for i in items]}).to_parquet(batch / "items.parquet")
    pd.DataFrame(
        {"user_id": [f"u{k}" for k in range(n)], "item_id": [items[k % len(items)] for k in range(n)], "timestamp": [T0 + k for k in range(n)]}
    ).to_csv(batch / "interactions.csv", index=False)


@pytest.fixture
def git_lake(tmp_path, monkeypatch):
    """A lake two levels inside a git repository, as var/lake sits in a project checkout."""
    repo = tmp_path / "project"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    monkeypatch.setenv("RECAUG_PARAMS", str(tmp_path / "no-params.yaml"))
    settings = load_settings({"lake_root": str(repo / "var" / "lake"), "run_id": None})
    settings.lake.ensure()
    return settings


def test_version_change_and_checkout_restores_bytes(git_lake):
    settings = git_lake
    lake = settings.lake
    land(settings, "2026-01-01", ["i1", "i2"], 4)
    assert ingest(settings).accepted == ["2026-01-01"]

    first = version_data(settings)
    assert set(first.targets) == {"raw/2026-01-01", "curated"}
    assert first.version.startswith("data-")
    curated_v1 = tree(lake.local("curated"))
    raw_v1 = tree(lake.local("raw", "2026-01-01"))
    remote = Path(first.remote)
    assert remote == lake.local("raw").parent.parent / "dvc-remote" and any(remote.rglob("*"))

    again = version_data(settings)
    assert again == first  # unchanged data: same version, same manifest, no rewrite

    land(settings, "2026-01-02", ["i2", "i3"], 6)
    assert ingest(settings).accepted == ["2026-01-02"]
    (lake.local("curated") / "notes.parquet").write_bytes(b"not part of version one")
    second = version_data(settings)
    assert second.version != first.version
    assert second.targets["curated"].md5 != first.targets["curated"].md5
    assert second.targets["raw/2026-01-01"].md5 == first.targets["raw/2026-01-01"].md5
    assert {m.version for m in list_versions(settings)} == {first.version, second.version}

    # lose the local cache: the restore must come from the remote
    shutil.rmtree(lake.local("raw").parent / ".dvc" / "cache")
    result = checkout_version(settings, first.version)
    assert result.restored == first.hashes()
    assert tree(lake.local("curated")) == curated_v1
    assert tree(lake.local("raw", "2026-01-01")) == raw_v1

    checkout_version(settings, second.version)
    assert "notes.parquet" in tree(lake.local("curated"))


def test_same_run_id_is_idempotent_and_recorded(git_lake):
    settings = git_lake.model_copy(update={"run_id": "nightly-7"})
    land(settings, "2026-01-01", ["i1"], 2)
    ingest(settings)
    manifest = version_data(settings, ["raw/2026-01-01"])
    manifest_path = settings.lake.local("manifests", "nightly-7.json")
    before = manifest_path.read_bytes()
    assert version_data(settings, ["raw/2026-01-01"]) == manifest
    assert manifest_path.read_bytes() == before
    assert load_version(settings, "nightly-7").targets["raw/2026-01-01"].dvc_text.startswith("outs:")


def test_bad_targets_and_versions_are_named(git_lake):
    with pytest.raises(RecaugError, match="nothing to version"):
        version_data(git_lake)
    with pytest.raises(RecaugError, match="does not exist"):
        version_data(git_lake, ["features/missing.parquet"])
    with pytest.raises(RecaugError, match="inside the lake"):
        version_data(git_lake, ["../elsewhere"])
    with pytest.raises(RecaugError, match="no data version 'v404'"):
        checkout_version(git_lake, "v404")


def test_checkout_requeues_later_batches_and_ingest_brings_them_back(git_lake):
    """ingest A, version, ingest B, check out the first version, ingest: B is back, nothing lost."""
    settings = git_lake
    lake = settings.lake
    land(settings, "2026-01-01", ["i1", "i2"], 4)
    ingest(settings)
    first = version_data(settings)
    assert set(first.batches) == {"2026-01-01"}
    curated_v1 = tree(lake.local("curated"))
    land(settings, "2026-01-02", ["i2", "i3"], 6)
    ingest(settings)
    curated_ab = tree(lake.local("curated"))
    raw_b = tree(lake.local("raw", "2026-01-02"))

    result = checkout_version(settings, first.version)
    assert result.requeued == ["2026-01-02"] and result.backed_up == ["curated"]
    assert tree(lake.local("curated")) == curated_v1
    assert tree(lake.local("landing", "2026-01-02")) == raw_b  # queued again, bytes as accepted
    backup = lake.local(*result.backup.split("/"))
    assert tree(backup / "curated") == curated_ab  # what the checkout replaced is kept
    assert set(json.loads((backup / "batches.json").read_text())["batches"]) == {"2026-01-01", "2026-01-02"}
    assert set(json.loads(lake.local("state", "batches.json").read_text())["batches"]) == {"2026-01-01"}

    again = ingest(settings)
    assert again.accepted == ["2026-01-02"] and not again.rejected
    assert tree(lake.local("curated")) == curated_ab  # B's rows are back, byte for byte
    assert not lake.local("landing", "2026-01-02").exists()


def version_a_then_ingest_b(settings):
    """Batch 2026-01-01 ingested and versioned, then batch 2026-01-02 ingested; returns the first version."""
    land(settings, "2026-01-01", ["i1"], 3)
    ingest(settings)
    first = version_data(settings)
    land(settings, "2026-01-02", ["i2"], 5)
    ingest(settings)
    return first


def test_checkout_forward_again_restores_the_ledger_and_clears_the_queue(git_lake):
    settings = git_lake
    lake = settings.lake
    first = version_a_then_ingest_b(settings)
    second = version_data(settings)
    curated_ab = tree(lake.local("curated"))

    assert checkout_version(settings, first.version).backed_up == []  # curated was versioned: nothing to back up
    assert lake.local("landing", "2026-01-02").is_dir()
    result = checkout_version(settings, second.version)
    assert result.requeued == [] and tree(lake.local("curated")) == curated_ab
    assert not lake.local("landing", "2026-01-02").exists()
    assert set(json.loads(lake.local("state", "batches.json").read_text())["batches"]) == {"2026-01-01", "2026-01-02"}
    assert ingest(settings).accepted == []


def test_checkout_refuses_what_it_cannot_restore_safely(git_lake):
    settings = git_lake
    lake = settings.lake
    first = version_a_then_ingest_b(settings)
    before = tree(Path(lake.root))

    land(settings, "2026-01-02", ["other"], 2)  # a different batch waits under B's name
    with pytest.raises(RecaugError, match="holds a different batch"):
        checkout_version(settings, first.version)
    shutil.rmtree(lake.local("landing", "2026-01-02"))
    assert tree(Path(lake.root)) == before  # nothing was changed

    legacy = json.loads(lake.local("manifests", f"{first.version}.json").read_text())
    legacy.pop("batches")
    legacy["targets"].pop("raw/2026-01-01")
    lake.local("manifests", "legacy.json").write_text(json.dumps(legacy))
    with pytest.raises(RecaugError, match="--force"):
        checkout_version(settings, "legacy")
    forced = checkout_version(settings, "legacy", force=True)
    assert forced.requeued == [] and forced.backed_up == ["curated"]
    assert set(json.loads(lake.local("state", "batches.json").read_text())["batches"]) == {"2026-01-01", "2026-01-02"}
