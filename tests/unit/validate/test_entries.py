from __future__ import annotations

import os

from recaug.validate import entries
from recaug.validate.quarantine import file_hashes, publish


def test_walk_hash_and_copy_never_follow_links_or_open_pipes(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy")
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "inner.csv").write_text("x")
    batch = tmp_path / "batch"
    (batch / "nested").mkdir(parents=True)
    (batch / "data.csv").write_text("a,b\n")
    (batch / "nested" / "link.csv").symlink_to(secret)
    (batch / "dirlink").symlink_to(outside_dir, target_is_directory=True)
    os.mkfifo(batch / "pipe")

    kinds = {e.relative: e.kind for e in entries.walk(batch)}
    assert kinds == {
        "data.csv": entries.FILE, "dirlink": entries.SYMLINK, "nested": entries.DIRECTORY,
        "nested/link.csv": entries.SYMLINK, "pipe": entries.SPECIAL,
    }
    hashes = file_hashes(batch)
    assert set(hashes) == {"data.csv", "dirlink", "nested/link.csv", "pipe"}
    secret.write_text("changed")
    assert file_hashes(batch) == hashes  # a link is hashed as its target path, not the target's bytes

    publish(batch, tmp_path / "copy")
    copy = tmp_path / "copy"
    assert os.readlink(copy / "nested" / "link.csv") == str(secret) and os.readlink(copy / "dirlink") == str(outside_dir)
    assert not os.path.lexists(copy / "pipe")
    entries.remove(batch)
    assert not batch.exists() and secret.read_text() == "changed" and (outside_dir / "inner.csv").exists()
