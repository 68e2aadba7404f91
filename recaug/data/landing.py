"""Landing batches: `<out>/<batch>/{interactions,items,users}.parquet`.

A batch is published whole: its files are written into a hidden temporary folder
(`.<batch>.tmp-*`, which readers ignore) and the folder is renamed into place, so a
reader never sees half a batch. Writing a batch whose bytes are already there is a
no-op, which makes loading and synthesis safe to rerun.

Batches are named after the UTC period they cover (`2018-09-24` per day, `2018-09`
per month), so names sort chronologically. Items and users go into the batch where
they first appear: the period of their `first_seen` (or first interaction), clamped
to the first batch when it precedes every batch.
"""

from __future__ import annotations

import io as _io
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel

from recaug import io
from recaug.data.loaders import Dataset, load_dataset

log = logging.getLogger(__name__)

BatchBy = Literal["day", "month", "none"]
TABLES = ("interactions", "items", "users")
PERIOD_FORMATS = {"day": "%Y-%m-%d", "month": "%Y-%m"}


class LandingSummary(BaseModel):
    out_dir: str
    format: str
    batch_by: str
    batches: list[str]
    written: int  # batches whose bytes changed
    unchanged: int  # batches already present with identical bytes
    interactions: int
    items: int
    users: int


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = _io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def write_batch(out_dir: str | os.PathLike, batch: str, tables: dict[str, pd.DataFrame]) -> bool:
    """Publish one landing batch atomically; return False when identical bytes were already there."""
    unknown = set(tables) - set(TABLES)
    if unknown or "interactions" not in tables:
        raise ValueError(f"batch {batch}: tables must include interactions and be among {TABLES}, got {sorted(tables)}")
    payload = {f"{name}.parquet": parquet_bytes(df) for name, df in tables.items()}
    target = io.join(out_dir, batch)
    if all(io.exists(io.join(target, f)) and io.read_bytes(io.join(target, f)) == data for f, data in payload.items()):
        return False
    if not io.is_local(out_dir):
        # Object stores publish each object whole; interactions (the required file) goes last.
        for name in sorted(payload, key=lambda f: f.startswith("interactions")):
            io.write_bytes(io.join(target, name), payload[name])
        return True
    _publish_local_dir(Path(io.filesystem(target)[1]), payload)
    return True


def _publish_local_dir(target: Path, payload: dict[str, bytes]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        for name, data in payload.items():
            with open(staging / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if not target.exists():
            os.replace(staging, target)
            return
        # A rename cannot replace a non-empty folder: move the old one aside, and put it
        # back if the new one cannot take its place.
        retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        try:
            os.replace(target, retired / target.name)
        except BaseException:
            retired.rmdir()
            raise
        try:
            os.replace(staging, target)
        except BaseException:
            os.replace(retired / target.name, target)
            retired.rmdir()
            raise
        shutil.rmtree(retired)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def list_batches(out_dir: str | os.PathLike) -> list[str]:
    """Published batch names, oldest first (temporary folders are skipped)."""
    fs, path = io.filesystem(out_dir)
    if not fs.exists(path):
        return []
    names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False)]
    return sorted(n for n in names if not n.startswith(".") and fs.isdir(f"{path}/{n}"))


def batch_names(timestamps: pd.Series, batch_by: BatchBy) -> pd.Series:
    if batch_by == "none":
        last = timestamps.max().strftime(PERIOD_FORMATS["day"]) if len(timestamps) else "empty"
        return pd.Series(last, index=timestamps.index)
    return timestamps.dt.strftime(PERIOD_FORMATS[batch_by])


def split_into_batches(dataset: Dataset, batch_by: BatchBy) -> dict[str, dict[str, pd.DataFrame]]:
    """Interactions by period; items and users in the batch where they first appear."""
    inter = dataset.interactions
    names = batch_names(inter["timestamp"], batch_by)
    batches = sorted(names.unique())
    if not batches:
        return {}
    out: dict[str, dict[str, pd.DataFrame]] = {}
    grouped = dict(list(inter.groupby(names, sort=True)))
    entities = {
        table: dict(list(frame.groupby(_entity_batches(frame, inter, key, batches, batch_by), sort=False)))
        for table, frame, key in (("items", dataset.items, "item_id"), ("users", dataset.users, "user_id"))
    }
    for name in batches:
        out[name] = {"interactions": grouped[name].reset_index(drop=True)}
        for table, frame in (("items", dataset.items), ("users", dataset.users)):
            out[name][table] = entities[table].get(name, frame.iloc[:0]).reset_index(drop=True)
    return out


def _entity_batches(table: pd.DataFrame, inter: pd.DataFrame, key: str, batches: list[str], batch_by: BatchBy) -> pd.Series:
    """The batch each item or user belongs to."""
    if batch_by == "none":
        return pd.Series(batches[0], index=table.index)
    first_event = inter.groupby(key, sort=False)["timestamp"].min()
    appeared = pd.concat([table["first_seen"], table[key].map(first_event)], axis=1).min(axis=1)
    periods = appeared.dt.strftime(PERIOD_FORMATS[batch_by]).fillna(batches[0])
    # The latest batch at or before the period; entities older than every batch go in the first.
    positions = pd.Index(batches).searchsorted(periods.to_numpy(), side="right") - 1
    return pd.Series([batches[max(p, 0)] for p in positions], index=table.index)


def land_dataset(dataset: Dataset, out_dir: str | os.PathLike, batch_by: BatchBy = "day", fmt: str = "dataset") -> LandingSummary:
    """Write an in-memory dataset (already canonical: see `Dataset.build`) as landing batches."""
    batches = split_into_batches(dataset, batch_by)
    written = 0
    for i, (name, tables) in enumerate(batches.items(), start=1):
        written += write_batch(out_dir, name, tables)
        if i % 100 == 0 or i == len(batches):
            log.info("landing %s: %d/%d batches (%d written)", out_dir, i, len(batches), written)
    return LandingSummary(
        out_dir=str(out_dir), format=fmt, batch_by=batch_by, batches=list(batches), written=written,
        unchanged=len(batches) - written, **dataset.summary(),
    )


def load_to_landing(fmt: str, path: str | os.PathLike, out_dir: str | os.PathLike, batch_by: BatchBy = "day",
                    **options) -> LandingSummary:
    """Read a dataset on disk (`recaug.data.loaders`) and write it as landing batches."""
    if batch_by not in PERIOD_FORMATS and batch_by != "none":
        raise ValueError(f"batch_by must be day, month or none, got {batch_by!r}")
    dataset = load_dataset(fmt, path, **options)
    log.info("loaded %s from %s: %s", fmt, path, dataset.summary())
    return land_dataset(dataset, out_dir, batch_by, fmt)
