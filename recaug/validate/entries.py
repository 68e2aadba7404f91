"""What a landing folder holds, seen without following links or opening special files.

A batch comes from outside: it may hold symbolic links (pointing into the lake, to
secrets, or to a device), named pipes that block a reader forever, or nested folders.
Every walk, hash and copy of landing data goes through here so that none of them ever
reads through a link or opens anything but a regular file: a link is recorded and
copied as the link itself, a special file as its kind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

FILE = "file"
DIRECTORY = "directory"
SYMLINK = "symlink"
SPECIAL = "special file"


@dataclass(frozen=True)
class Entry:
    path: Path
    relative: str  # posix path inside the walked folder
    kind: str

    @property
    def link_target(self) -> str:
        return os.readlink(self.path) if self.kind == SYMLINK else ""


def kind_of(path: Path) -> str:
    """The entry's own kind (a link is a link, whatever it points to)."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        return SYMLINK
    if stat.S_ISDIR(mode):
        return DIRECTORY
    if stat.S_ISREG(mode):
        return FILE
    return SPECIAL


def special_kind(path: Path) -> str:
    """Words for a special file: named pipe, socket, device."""
    mode = os.lstat(path).st_mode
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device"


def walk(directory: Path) -> list[Entry]:
    """Every entry under `directory` in name order, never descending through a link."""
    entries = []
    for current, dirs, files in os.walk(directory, followlinks=False):
        base = Path(current)
        for name in sorted(dirs + files):
            path = base / name
            entries.append(Entry(path, path.relative_to(directory).as_posix(), kind_of(path)))
    return sorted(entries, key=lambda e: e.relative)


def digest(entry: Entry) -> str:
    """sha256 of a regular file's bytes (read in chunks); of the link text for a link."""
    sha = hashlib.sha256()
    if entry.kind == FILE:
        with entry.path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                sha.update(chunk)
    elif entry.kind == SYMLINK:
        sha.update(b"symlink -> " + os.fsencode(entry.link_target))
    else:
        sha.update(f"{SPECIAL}: {special_kind(entry.path)}".encode())
    return sha.hexdigest()


def copy(entry: Entry, target: Path) -> None:
    """Copy one entry as what it is: bytes of a file (fsynced), the link itself, a folder.
    A special file has no bytes to keep; it is named in the report instead."""
    if entry.kind == DIRECTORY:
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if entry.kind == SYMLINK:
        os.symlink(entry.link_target, target)
    elif entry.kind == FILE:
        shutil.copyfile(entry.path, target, follow_symlinks=False)
        with target.open("rb") as fh:
            os.fsync(fh.fileno())


def remove(path: Path) -> None:
    """Remove a landing entry without following links (a linked batch loses only its link)."""
    if kind_of(path) == DIRECTORY:
        shutil.rmtree(path)
    else:
        path.unlink()
