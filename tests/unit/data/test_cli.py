"""`recaug data ...` through the real CLI entry point."""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from recaug.cli import main
from recaug.data.landing import list_batches


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_synth_writes_daily_batches_into_the_lake(settings, capsys):
    code, out, _ = run(capsys, "data", "synth", "--lake", settings.lake_root, "--users", "50", "--items", "80",
                       "--interactions", "900", "--days", "3", "--seed", "11")
    assert code == 0
    summary = json.loads(out)
    assert summary["interactions"] == 900 and summary["seed"] == 11
    landing = settings.lake.local("landing")
    assert list_batches(landing) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert sum(len(pd.read_parquet(landing / b / "interactions.parquet")) for b in list_batches(landing)) == 900


def test_synth_invalid_setting_is_a_config_error(settings, capsys):
    code, _, err = run(capsys, "data", "synth", "--lake", settings.lake_root, "--items", "1")
    assert code == 2 and "n_items" in err


def test_load_csv_with_column_mapping(settings, tmp_path, capsys):
    path = tmp_path / "events.csv"
    path.write_text("uid,sku,ts\nu1,s1,1767600000000\nu2,s2,1767690000000\n")
    out_dir = tmp_path / "landing"
    code, out, _ = run(capsys, "data", "load", "--format", "csv", "--path", str(path), "--out", str(out_dir),
                       "--map", "user_id=uid", "--map", "item_id=sku", "--map", "timestamp=ts",
                       "--option", "time_unit=ms", "--lake", settings.lake_root)
    assert code == 0, out
    assert json.loads(out)["batches"] == ["2026-01-05", "2026-01-06"]
    assert pd.read_parquet(out_dir / "2026-01-06" / "interactions.parquet")["user_id"].tolist() == ["u2"]


def test_load_error_is_one_readable_line(settings, tmp_path, capsys):
    code, _, err = run(capsys, "data", "load", "--format", "ml-100k", "--path", str(tmp_path), "--lake", settings.lake_root)
    assert code == 1
    assert err.startswith("recaug data: error: ") and "u.data: missing ratings file" in err
    assert "Traceback" not in err


def test_fetch_with_url_override(settings, tmp_path, capsys, tiny_zip, archive_server):
    payload = tiny_zip
    with archive_server(payload) as server:
        code, out, _ = run(capsys, "data", "fetch", "ml-tiny", "--dest", str(tmp_path / "ds"), "--url", server.url,
                           "--sha256", hashlib.sha256(payload).hexdigest(), "--format", "ml-latest",
                           "--lake", settings.lake_root)
    assert code == 0
    assert json.loads(out)["path"] == str(tmp_path / "ds" / "ml-tiny")
    code, _, err = run(capsys, "data", "fetch", "ml-tiny", "--dest", str(tmp_path / "ds2"), "--url", "http://127.0.0.1:9/x.zip",
                       "--lake", settings.lake_root)
    assert code == 1 and "--url needs --sha256" in err
