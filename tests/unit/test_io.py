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
