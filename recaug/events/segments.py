"""The event log's segment files.

    <log>/active/<created>-<pid>-<token>.jsonl     written by one live writer (it holds an flock on it)
    <log>/sealed/<same name>                       closed: complete, never written again
    <log>/exporting/<batch>/<segments>             claimed by an export that has not finished
    <log>/exported/<batch>/<segments>              in landing batch <batch>: never exported again

A segment is one JSON object per line. A line is acknowledged only once it is fsynced,
so a writer killed mid-write can leave at most one torn line at the end of its segment,
which was never acknowledged: readers skip it, sealing an orphan cuts it off. Names sort
by creation time.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

ACTIVE, SEALED, EXPORTING, EXPORTED = "active", "sealed", "exporting", "exported"
SUFFIX = ".jsonl"
NAME_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


def new_segment_name(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime(NAME_TIME_FORMAT)}-{os.getpid()}-{secrets.token_hex(3)}{SUFFIX}"


def created_at(path: Path) -> datetime | None:
    """The creation time a segment's name records (None for a foreign name)."""
    try:
        return datetime.strptime(path.name.split("-", 1)[0], NAME_TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def segments_in(folder: Path) -> list[Path]:
    """Segment files directly in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(SUFFIX) and not p.name.startswith(".") and p.is_file())


def all_segments(root: Path) -> list[Path]:
    """Every segment of the log: active, sealed, being exported and exported, oldest first."""
    found = segments_in(root / ACTIVE) + segments_in(root / SEALED)
    for state in (EXPORTING, EXPORTED):
        folder = root / state
        if folder.is_dir():
            for batch in sorted(folder.iterdir()):
                found += segments_in(batch)
    return sorted(found, key=lambda p: p.name)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move(path: Path, folder: Path) -> Path:
    """Rename `path` into `folder`, durably (both directories fsynced)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    os.replace(path, target)
    fsync_directory(folder)
    fsync_directory(path.parent)
    return target


def complete_lines(data: bytes) -> tuple[bytes, int]:
    """(the bytes up to the last newline, bytes after it: a torn, unacknowledged line)."""
    end = data.rfind(b"\n") + 1
    return data[:end], len(data) - end


def seal_orphans(root: Path) -> list[Path]:
    """Seal active segments whose writer is gone (its flock died with it), cutting off a
    torn last line first. Segments of live writers are left alone."""
    sealed = []
    for path in segments_in(root / ACTIVE):
        fd = os.open(path, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live writer holds it
            with open(fd, "rb+", closefd=False) as fh:
                data = fh.read()
                kept, torn = complete_lines(data)
                if torn:
                    fh.truncate(len(kept))
                    fh.flush()
                    os.fsync(fd)
                    log.warning("event log: cut a torn last line (%d bytes, never acknowledged) off %s", torn, path.name)
            if kept:
                sealed.append(move(path, root / SEALED))
            else:
                path.unlink()
                fsync_directory(path.parent)
        finally:
            os.close(fd)
    return sealed
