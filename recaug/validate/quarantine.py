"""Publishing a landing batch, byte for byte, into raw/ or quarantine/.

A batch is copied into a hidden staging directory next to its destination and renamed
into place, so a reader (or a retry after a crash) sees either the whole batch or
nothing. The landing copy is removed only after the ledger records the batch.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from recaug import io
from recaug.validate import entries
from recaug.validate.report import BatchReport

REPORT_FILE = "report.json"
DATA_DOCS_DIR = "data_docs"


def file_hashes(directory: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every entry under `directory` except folders (relative posix path -> hex
    digest); links and special files are hashed as what they are, never read through."""
    hashes = {}
    if entries.kind_of(directory) != entries.DIRECTORY:
        return {_readable(directory.name): entries.digest(entries.Entry(directory, directory.name, entries.kind_of(directory)))}
    for entry in entries.walk(directory):
        if entry.relative.split("/")[0] in skip or entry.kind == entries.DIRECTORY:
            continue
        hashes[_readable(entry.relative)] = entries.digest(entry)
    return hashes


def _readable(relative: str) -> str:
    """A file name as valid text (names that are not UTF-8 keep their bytes as escapes)."""
    return os.fsencode(relative).decode("utf-8", "backslashreplace")


def staging_dir(destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{destination.name}.staging-", dir=destination.parent))


def publish(source: Path, destination: Path, staging: Path | None = None) -> None:
    """Copy `source` into `destination` (which must not exist) through a staging directory.

    Links are copied as links and never followed; a `source` that is itself a link or a
    single file is kept inside `destination` under its own name."""
    staging = staging or staging_dir(destination)
    try:
        if entries.kind_of(source) != entries.DIRECTORY:
            entries.copy(entries.Entry(source, source.name, entries.kind_of(source)), staging / source.name)
        else:
            for entry in entries.walk(source):
                entries.copy(entry, staging / entry.relative)
        os.rename(staging, destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def artifact_names(batch_files: dict[str, str]) -> tuple[str, str]:
    """Names for report.json and data_docs/ that cannot clobber a file of the batch itself."""
    taken = {name.split("/")[0] for name in batch_files}
    report, docs = REPORT_FILE, DATA_DOCS_DIR
    while report in taken or docs in taken:
        report, docs = f"_{report}", f"_{docs}"
    return report, docs


def write_report(directory: Path, report: BatchReport, name: str = REPORT_FILE) -> None:
    io.write_json(directory / name, report.model_dump(mode="json"))
