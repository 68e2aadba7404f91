"""Redacted copies of version targets, pushed to the DVC remote instead of the originals.

With `privacy.dvc_remote_drop_columns` set, a target holding a Parquet or CSV file with
one of those columns is mirrored into `redacted/<target>` with the columns removed
(other files copied as they are); DVC tracks and pushes that copy, while the original
stays tracked in the local DVC cache only. So the remote (an object store, a shared
folder) never receives the personal columns, and a local checkout still restores the
full data from the cache. A target without such columns is pushed as it is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from recaug import io

SECTION = "redacted"
TABULAR = (".parquet", ".csv")


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))


def _columns(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(path).names
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        import csv

        return next(csv.reader([fh.readline()]), [])


def personal_columns(path: Path, drop: list[str]) -> list[str]:
    """The columns of `drop` that some table under `path` has."""
    wanted = set(drop)
    found: set[str] = set()
    for file in _files(path):
        if file.suffix in TABULAR:
            found |= wanted.intersection(_columns(file))
    return sorted(found)


def _write_without(source: Path, target: Path, drop: list[str]) -> None:
    if source.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(source)
        table = table.drop_columns([c for c in drop if c in table.column_names])
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        io.write_bytes(str(target), sink.getvalue().to_pybytes())
    elif source.suffix == ".csv":
        import pandas as pd

        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        io.write_text(str(target), frame.drop(columns=[c for c in drop if c in frame.columns]).to_csv(index=False))
    else:
        with io.atomic_local_path(target) as tmp:
            shutil.copyfile(source, tmp)


def redact_target(root: Path, target: str, drop: list[str]) -> str | None:
    """Write `redacted/<target>` (lake-relative path returned) when `target` has a column
    of `drop`; None when it has none (push the target itself). The copy is rebuilt whole,
    so files gone from the target are gone from it too."""
    source = root / target
    if not drop or not personal_columns(source, drop):
        return None
    copy = f"{SECTION}/{target.strip('/')}"
    destination = root / copy
    if destination.exists():
        shutil.rmtree(destination) if destination.is_dir() else destination.unlink()
    for file in _files(source):
        relative = file.relative_to(source) if source.is_dir() else Path()
        _write_without(file, destination / relative if source.is_dir() else destination, drop)
    return copy
