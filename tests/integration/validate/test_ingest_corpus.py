"""Every kind of broken batch is quarantined byte for byte, named in words, and harms nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from recaug.errors import ValidationFailed
from recaug.validate.ingest import ingest

from validate_corpus import broken_batches, good_batch, write_batch

CORPUS = broken_batches()


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def accepted_lake(tmp_path_factory):
    """A lake holding one accepted batch (raw/ and curated/ populated), built once."""
    from recaug.settings import Settings

    root = tmp_path_factory.mktemp("accepted") / "lake"
    settings = Settings(lake_root=str(root))
    settings.lake.ensure()
    good_batch(settings.lake.local("landing", "2026-01-01"))
    result = ingest(settings)
    assert result.accepted == ["2026-01-01"] and not result.rejected
    return root


@pytest.fixture
def lake_with_accepted_batch(settings, accepted_lake):
    shutil.rmtree(settings.lake.root)
    shutil.copytree(accepted_lake, settings.lake.root)
    return settings


@pytest.mark.parametrize("kind", sorted(CORPUS))
def test_broken_batch_is_quarantined_and_named(kind, lake_with_accepted_batch):
    settings = lake_with_accepted_batch
    lake = settings.lake
    files, bad_file, rule = CORPUS[kind]
    before = {section: tree_hashes(lake.local(section)) for section in ("raw", "curated")}
    batch = write_batch(lake.local("landing", "2026-01-02"), files)
    sent = tree_hashes(batch)

    result = ingest(settings)

    assert result.rejected == ["2026-01-02"] and not result.accepted
    with pytest.raises(ValidationFailed) as raised:
        result.raise_for_rejections()
    message = str(raised.value)
    assert bad_file in message and f"rule '{rule}'" in message, message
    quarantined = lake.local("quarantine", "2026-01-02")
    kept = {k: v for k, v in tree_hashes(quarantined).items() if k != "report.json" and not k.startswith("data_docs/")}
    assert kept == sent
    assert not batch.exists()
    report = json.loads((quarantined / "report.json").read_text())
    assert report["accepted"] is False
    assert any(f["rule"] == rule and f["file"] == bad_file for f in report["failures"])
    after = {section: tree_hashes(lake.local(section)) for section in ("raw", "curated")}
    assert after == before


def test_corpus_has_at_least_fifteen_kinds():
    assert len(CORPUS) >= 15
    assert len({rule for _, _, rule in CORPUS.values()}) >= 12
