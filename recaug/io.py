"""Atomic, fsspec-aware reads and writes for the data lake.

Every stage writes through these helpers so that a crash never leaves a half-written
file where a reader could find it: local files are written to a temporary sibling and
renamed into place (atomic on POSIX); object stores publish an object only when its
upload completes, so a direct write there is already all-or-nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import fsspec
from fsspec.implementations.local import LocalFileSystem


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
    """Yield a temporary path next to `target`; rename it onto `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(url: str | os.PathLike, data: bytes) -> None:
    fs, path = filesystem(url)
    if isinstance(fs, LocalFileSystem):
        with atomic_local_path(path) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
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


def write_parquet(df, url: str | os.PathLike) -> None:
    """Write a DataFrame as Parquet atomically (index dropped)."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    write_bytes(url, buf.getvalue())


def read_parquet(url: str | os.PathLike, columns: list[str] | None = None):
    import pandas as pd

    fs, path = filesystem(url)
    with fs.open(path, "rb") as fh:
        return pd.read_parquet(fh, columns=columns)


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
