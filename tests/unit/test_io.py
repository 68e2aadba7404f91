from __future__ import annotations

import pandas as pd
import pytest

from recaug import io


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path):
    target = tmp_path / "out" / "table.parquet"
    io.write_parquet(pd.DataFrame({"a": [1, 2]}), target)
    before = target.read_bytes()

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with io.atomic_local_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise Boom
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["table.parquet"]


def test_roundtrip_on_memory_filesystem():
    url = "memory://recaug-test/x/t.parquet"
    io.write_parquet(pd.DataFrame({"a": [1]}), url)
    assert io.read_parquet(url)["a"].tolist() == [1]
    io.write_json("memory://recaug-test/x/m.json", {"k": 1})
    assert io.read_json("memory://recaug-test/x/m.json") == {"k": 1}


def test_content_hash_separates_parts():
    assert io.content_hash("ab", "c") != io.content_hash("a", "bc")


FILE_SIZE_LIMITED_WRITE = """
import resource, signal, sys
from recaug import io
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
try:
    io.write_bytes(sys.argv[1], b"x" * (1 << 20))
except io.StorageFull as exc:
    print(exc)
    sys.exit(4)
"""


def test_write_over_the_file_size_limit_keeps_the_previous_file_and_no_temp(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "models" / "model.onnx"
    io.write_bytes(target, b"previous model")
    done = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMITED_WRITE, str(target)], capture_output=True, text=True)
    assert done.returncode == 4, done.stderr
    assert f"cannot write {target}" in done.stdout and "previous version of the file is kept" in done.stdout
    assert target.read_bytes() == b"previous model"
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]


def test_remove_temp_files_removes_only_atomic_write_leftovers(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    leftover = tmp_path / "a" / "b" / ".t.parquet.x1y2.recaug-tmp"
    leftover.write_bytes(b"half")
    kept = [tmp_path / "a" / "t.parquet", tmp_path / "a" / ".2026-01-05.tmp-abc", tmp_path / "a" / "notes.recaug-tmp"]
    for path in kept:
        path.write_bytes(b"data")
    assert io.remove_temp_files(tmp_path) == [leftover]
    assert all(path.exists() for path in kept)


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    import os

    target = tmp_path / "report.json"
    io.write_json(target, {"v": 1})
    assert target.stat().st_mode & 0o777 == 0o666 & ~io._UMASK
    os.chmod(target, 0o640)
    io.write_json(target, {"v": 2})
    assert target.stat().st_mode & 0o777 == 0o640 and io.read_json(target) == {"v": 2}
