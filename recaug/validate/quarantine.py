"""Publishing a landing batch, byte for byte, into raw/ or quarantine/.

A batch is copied into a hidden staging directory next to its destination and renamed
into place, so a reader (or a retry after a crash) sees either the whole batch or
nothing. The landing copy is removed only after the ledger records the batch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from recaug import io
from recaug.validate.report import BatchReport

REPORT_FILE = "report.json"
DATA_DOCS_DIR = "data_docs"


def file_hashes(directory: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under `directory` (relative posix path -> hex digest)."""
    hashes = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if relative.split("/")[0] in skip or not path.is_file():
            continue
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        hashes[relative] = digest.hexdigest()
    return hashes


def staging_dir(destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{destination.name}.staging-", dir=destination.parent))


def publish(source: Path, destination: Path, staging: Path | None = None) -> None:
    """Copy `source` into `destination` (which must not exist) through a staging directory."""
    staging = staging or staging_dir(destination)
    try:
        for path in sorted(source.rglob("*")):
            target = staging / path.relative_to(source)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                with target.open("rb") as fh:
                    os.fsync(fh.fileno())
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
