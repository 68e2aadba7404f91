"""Atomic, fsspec-aware reads and writes for the data lake.

Every stage writes through these helpers so that a crash never leaves a half-written
file where a reader could find it: local files are written to a hidden temporary
sibling (`.<name>.<random><suffix>.recaug-tmp`), flushed to disk (fsync), renamed into
place (atomic on POSIX) and the rename made durable by an fsync of the directory, so
after a power loss the name points at either the old bytes or the complete new ones.
A failed write removes its temporary file and leaves the previous file untouched; a
full disk is reported as `StorageFull` naming the file. A writer killed by SIGKILL
cannot clean up: its temporary files are removed by `remove_temp_files` when the lake
lock is taken over from the dead writer (`recaug.lake_lock`). Object stores publish
an object only when its upload completes, so a direct write there is already
all-or-nothing.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import fsspec
from fsspec.implementations.local import LocalFileSystem

from recaug.errors import RecaugError

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".recaug-tmp"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class StorageFull(RecaugError):
    """A write ran out of space (disk full, quota, file size limit); nothing was replaced."""

    exit_code = 4


def filesystem(url: str | os.PathLike) -> tuple[fsspec.AbstractFileSystem, str]:
    """Split a path or URL into (filesystem, path-on-that-filesystem)."""
    fs, path = fsspec.core.url_to_fs(str(url))
    return fs, path


def is_local(url: str | os.PathLike) -> bool:
    return isinstance(filesystem(url)[0], LocalFileSystem)


def join(base: str | os.PathLike, *parts: str) -> str:
    """Join path parts onto a local path or URL."""
    base = str(base).rstrip("/")
    return "/".join([base, *[p.strip("/") for p in parts if p]])


def exists(url: str | os.PathLike) -> bool:
    fs, path = filesystem(url)
    return fs.exists(path)


@contextlib.contextmanager
def atomic_local_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success make it durable and rename it
    onto `target`. On any failure the temporary file is removed and `target` keeps its
    previous bytes; running out of space raises `StorageFull`."""
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + TEMP_SUFFIX, dir=target.parent)
    except OSError as exc:
        raise _storage_error(exc, target) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, _mode_for(target))
        yield tmp_path
        _fsync_file(tmp_path)
        os.replace(tmp_path, target)
        _fsync_directory(target.parent)
    except OSError as exc:
        raise _storage_error(exc, target) from exc
    finally:
        tmp_path.unlink(missing_ok=True)


def _mode_for(target: Path) -> int:
    """Keep the mode of the file being replaced; a new file gets the umask's mode
    (mkstemp alone would make every lake file private to the writing user)."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _storage_error(exc: OSError, target: Path) -> OSError | StorageFull:
    """Out-of-space errors become one readable message; others pass through unchanged."""
    if exc.errno not in _NO_SPACE:
        return exc
    return StorageFull(f"cannot write {target}: {exc.strerror}; the previous version of the file is kept. "
                       "Free space (or raise the limit) and run the stage again")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    """Make a rename inside `directory` survive a power loss."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_temp_files(root: str | os.PathLike) -> list[Path]:
    """Delete the temporary files dead writers left under `root` (call only while no
    writer is alive, i.e. holding the lake lock after taking it over)."""
    removed = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                path = Path(folder) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def write_bytes(url: str | os.PathLike, data: bytes) -> None:
    fs, path = filesystem(url)
    if isinstance(fs, LocalFileSystem):
        with atomic_local_path(path) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(data)
    else:
        fs.makedirs(fs._parent(path), exist_ok=True)
        fs.pipe_file(path, data)


def read_bytes(url: str | os.PathLike) -> bytes:
    fs, path = filesystem(url)
    return fs.cat_file(path)


def write_text(url: str | os.PathLike, text: str) -> None:
    write_bytes(url, text.encode("utf-8"))


def read_text(url: str | os.PathLike) -> str:
    return read_bytes(url).decode("utf-8")


def write_json(url: str | os.PathLike, obj: Any) -> None:
    write_text(url, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(url: str | os.PathLike) -> Any:
    return json.loads(read_text(url))


def write_parquet(df, url: str | os.PathLike) -> str:
    """Write a DataFrame (index dropped) or an Arrow table as Parquet atomically; -> the sha256
    of the bytes written (what `sha256_file` would read back)."""
    buf = io.BytesIO()
    if hasattr(df, "to_parquet"):
        df.to_parquet(buf, index=False)
    else:
        import pyarrow.parquet as pq

        pq.write_table(df, buf)
    data = buf.getvalue()
    write_bytes(url, data)
    return hashlib.sha256(data).hexdigest()


def read_parquet(url: str | os.PathLike, columns: list[str] | None = None):
    import pandas as pd

    fs, path = filesystem(url)
    with fs.open(path, "rb") as fh:
        return pd.read_parquet(fh, columns=columns)


def read_table(url: str | os.PathLike):
    """A Parquet file as an Arrow table (no pandas conversion)."""
    import pyarrow.parquet as pq

    fs, path = filesystem(url)
    with fs.open(path, "rb") as fh:
        return pq.read_table(fh)


def sha256_file(url: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    fs, path = filesystem(url)
    digest = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_hash(*parts: str | bytes) -> str:
    """Stable hash of several pieces of content (used as cache keys)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()
