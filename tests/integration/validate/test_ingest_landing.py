"""Hostile landing folders: links, pipes, stray files, odd names, oversized files.

Each is quarantined without following a link or reading anything but regular files
within the limits, named in the report, the CLI exits 3 without a traceback, and data
already accepted stays as it was.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from recaug.cli import main
from recaug.settings import load_settings
from recaug.validate.batch_names import storage_name
from recaug.validate.ingest import ingest
from recaug.validate.quarantine import file_hashes
from recaug.validate.state import Ledger

from validate_corpus import good_batch, interactions, items, write_batch

SECRET = b"api_key=do-not-copy-me\n"


@pytest.fixture
def lake(settings):
    """A lake with one accepted batch, so every test can check accepted data is untouched."""
    good_batch(settings.lake.local("landing", "2026-01-01"))
    assert ingest(settings).accepted == ["2026-01-01"]
    return settings.lake


def _accepted_state(lake) -> dict:
    return {section: file_hashes(lake.local(section)) for section in ("raw", "curated")}


def _lake_holds(lake, needle: bytes) -> list[str]:
    """Lake files whose bytes contain `needle` (links are not read)."""
    found = []
    for path in Path(lake.root).rglob("*"):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            found.append(str(path))
    return found


def _ingest_cli(lake, capsys, *args: str) -> tuple[int, str]:
    code = main(["ingest", "--lake", str(lake.root), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _report(lake, name: str) -> dict:
    return json.loads((lake.local("quarantine", name) / "report.json").read_text())


def test_link_to_a_secret_is_quarantined_as_a_link_never_read(lake, tmp_path, capsys):
    secret = tmp_path / "outside" / "credentials.csv"
    secret.parent.mkdir()
    secret.write_bytes(SECRET)
    before = _accepted_state(lake)
    batch = good_batch(lake.local("landing", "2026-01-02"))
    (batch / "users.csv").symlink_to(secret)

    code, output = _ingest_cli(lake, capsys)

    assert code == 3 and "Traceback" not in output
    assert "users.csv: rule 'symlink' failed" in output and str(secret) in output
    kept = lake.local("quarantine", "2026-01-02", "users.csv")
    assert kept.is_symlink() and os.readlink(kept) == str(secret)  # the link itself, byte for byte
    assert _lake_holds(lake, SECRET) == [] and secret.read_bytes() == SECRET
    assert not batch.exists() and _accepted_state(lake) == before


def test_batch_folder_that_is_a_link_is_refused_and_its_target_left_alone(lake, tmp_path, capsys):
    elsewhere = good_batch(tmp_path / "elsewhere")
    target_files = file_hashes(elsewhere)
    before = _accepted_state(lake)
    lake.local("landing", "2026-01-02").symlink_to(elsewhere, target_is_directory=True)

    code, output = _ingest_cli(lake, capsys)

    assert code == 3 and "Traceback" not in output and "rule 'symlink'" in output
    assert file_hashes(elsewhere) == target_files  # nothing moved, deleted or copied out of the target
    kept = lake.local("quarantine", "2026-01-02", "2026-01-02")
    assert kept.is_symlink() and os.readlink(kept) == str(elsewhere)
    assert not os.path.lexists(lake.local("landing", "2026-01-02"))
    assert _accepted_state(lake) == before


def test_named_pipe_is_refused_without_being_opened(lake, capsys):
    batch = good_batch(lake.local("landing", "2026-01-02"))
    os.mkfifo(batch / "items.csv.part")  # opening it for reading would block ingest forever

    code, output = _ingest_cli(lake, capsys)

    assert code == 3 and "Traceback" not in output
    assert "items.csv.part: rule 'special file' failed" in output and "named pipe" in output
    assert file_hashes(lake.local("quarantine", "2026-01-02"), skip=("report.json", "data_docs")).keys() == {
        "items.parquet", "interactions.parquet"
    }


def test_stray_file_in_landing_is_quarantined_not_ignored(lake, capsys):
    stray = lake.local("landing", "interactions.csv")
    interactions().to_csv(stray, index=False)
    sent = stray.read_bytes()

    code, output = _ingest_cli(lake, capsys)

    assert code == 3 and "rule 'batch directory' failed" in output
    assert lake.local("quarantine", "interactions.csv", "interactions.csv").read_bytes() == sent
    assert not stray.exists()


@pytest.mark.parametrize("name", ["new\nbatch", "photo\u202egnp", "-rf", "caf\u00e9", "x" * 200])
def test_unsafe_batch_names_are_quarantined_under_a_stand_in(lake, name, capsys):
    batch = good_batch(lake.local("landing", name))
    sent = file_hashes(batch)
    before = _accepted_state(lake)

    code, output = _ingest_cli(lake, capsys)

    assert code == 3 and "Traceback" not in output and "rule 'batch name' failed" in output
    stand_in = storage_name(name)
    assert stand_in.startswith("unsafe-name-")
    assert file_hashes(lake.local("quarantine", stand_in), skip=("report.json", "data_docs")) == sent
    assert "\u202e" not in output and "new\nbatch" not in output  # the name cannot rewrite the terminal
    assert Ledger.load(lake.url("state", "batches.json")).batches[stand_in].status == "rejected"
    assert _accepted_state(lake) == before


def test_oversized_file_is_quarantined_without_being_parsed(settings, capsys):
    small = load_settings({"lake_root": str(settings.lake.root), "validate": {"max_file_bytes": 1000}})
    lake = small.lake
    write_batch(lake.local("landing", "2026-01-02"), {"items.parquet": items(), "interactions.csv": b"not parquet, not csv;" * 100})
    result = ingest(small)
    failures = [(f.file, f.rule) for f in result.reports[0].failures]
    assert ("interactions.csv", "file size") in failures  # garbage that was never parsed, so no 'malformed csv'
    assert not any(f.rule in ("malformed csv", "delimiter") for f in result.reports[0].failures)
    assert lake.local("quarantine", "2026-01-02", "interactions.csv").read_bytes() == b"not parquet, not csv;" * 100


def test_year_one_parquet_timestamps_exit_3_with_a_unit_hint_for_milliseconds(lake, capsys):
    """The crash of issue 13: a Parquet timestamp[us] of year 1 raised OutOfBoundsDatetime."""
    times = pd.Series(pd.array(["0001-01-01", "2026-01-01"], dtype="datetime64[us]")).dt.tz_localize("UTC")
    write_batch(lake.local("landing", "2026-01-02"), {"interactions.parquet": interactions(2).assign(timestamp=times)})
    millis = interactions(4).assign(timestamp=[1_767_225_600_000 + k for k in range(4)])
    write_batch(lake.local("landing", "2026-01-03"), {"interactions.csv": millis})

    code, output = _ingest_cli(lake, capsys)

    assert code == 3 and "Traceback" not in output
    assert "batch 2026-01-02: rejected" in output and "column 'timestamp': rule 'timestamp range'" in output
    assert "0001-01-01" in output
    assert "non-null timestamp" not in output  # a value that is present is reported once, by the rule it breaks
    ranges = [f for f in _report(lake, "2026-01-03")["failures"] if f["rule"] == "timestamp range"]
    assert ranges and "the numbers look like epoch milliseconds" in ranges[0]["details"]


def test_bom_and_legitimate_unicode_are_accepted(lake, settings):
    text = "item_id,title,description\ni1,Caf\u00e9 \u05e9\u05dc\u05d5\u05dd \u200fok,\U0001f600 tab\there\n"
    write_batch(lake.local("landing", "2026-01-02"), {"items.csv": b"\xef\xbb\xbf" + text.encode(), "interactions.parquet": interactions(3, ("i1",))})
    result = ingest(settings)
    assert result.accepted == ["2026-01-02"], result.summary()
    curated = pd.read_parquet(lake.items).set_index("item_id")
    assert curated.loc["i1", "title"].startswith("Caf\u00e9")


@pytest.mark.parametrize("name", ["../raw/2026-01-01", "/etc", "..", "2026-01-01/../../x"])
def test_batch_option_with_path_tricks_touches_nothing(lake, name, capsys):
    before = _accepted_state(lake)
    code, output = _ingest_cli(lake, capsys, "--batch", name)
    assert code == 1 and "not found" in output and "Traceback" not in output
    assert _accepted_state(lake) == before
    quarantine = lake.local("quarantine")
    assert not quarantine.exists() or not any(quarantine.iterdir())
