"""Sample values of personal fields are masked in the quarantine report, the GX data docs
and the CLI summary; other columns keep their samples (privacy.personal_fields)."""

from __future__ import annotations

import json

from recaug.cli import main

from validate_corpus import interactions, items, write_batch

SECRET_USER = " alice.smith@example.com "  # padded: breaks the id rules
BAD_ITEM = " i9 "


def test_personal_samples_are_masked_everywhere_they_are_shown(settings, capsys):
    lake = settings.lake
    events = interactions()
    events.loc[0, "user_id"] = SECRET_USER
    events.loc[1, "item_id"] = BAD_ITEM
    write_batch(lake.local("landing", "2026-01-01"), {"items.parquet": items(), "interactions.parquet": events})

    assert main(["ingest", "--lake", str(lake.root)]) == 3
    err = capsys.readouterr().err
    report = json.loads(lake.local("quarantine", "2026-01-01", "report.json").read_text())

    by_column = {}
    for failure in report["failures"]:
        by_column.setdefault(failure["column"], []).extend(failure["sample_values"])
    assert by_column["user_id"] and all(v.startswith("<masked> (") for v in by_column["user_id"]), by_column
    assert any("i9" in v for v in by_column["item_id"])  # not personal: shown
    docs = "".join(p.read_text(errors="replace") for p in lake.local("quarantine", "2026-01-01").rglob("*.html"))
    assert docs and "i9" in docs
    for shown in (json.dumps(report), err, docs):
        assert "alice.smith" not in shown


def test_masking_follows_the_configured_fields(settings, capsys):
    lake = settings.lake
    events = interactions()
    events.loc[0, "user_id"] = SECRET_USER
    write_batch(lake.local("landing", "2026-01-01"), {"items.parquet": items(), "interactions.parquet": events})
    assert main(["ingest", "--lake", str(lake.root), "--set", "privacy.personal_fields=[]"]) == 3
    report = lake.local("quarantine", "2026-01-01", "report.json").read_text()
    docs = "".join(p.read_text(errors="replace") for p in lake.local("quarantine", "2026-01-01").rglob("*.html"))
    assert "alice.smith" in report and "alice.smith" in docs  # nothing configured as personal: the sample is shown
