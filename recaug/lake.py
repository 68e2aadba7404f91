"""Where every stage reads and writes inside the data lake.

The layout is a contract between stages; change it here and nowhere else.

    landing/<batch>/          incoming batches (interactions.{parquet,csv}, items..., users...)
    raw/<batch>/              accepted batches, bytes as they arrived (immutable, DVC-tracked)
    quarantine/<batch>/       rejected batches, bytes unchanged, with report.json + data_docs/
    curated/                  canonical tables merged from every accepted batch
    augment/                  LLM enrichment, user profiles, augmented interactions, stats
    embeddings/               text embeddings (items, users) and per-shard outputs
    features/                 fused feature tables (Parquet, Feast offline store)
    feast/                    Feast registry, online store (SQLite) and watermark
    events/                   feedback event log from the gateway (see recaug/events/segments.py)
    models/<run>/             model artifacts (what serves: the deploy records under deploy/)
    deploy/                   deploy records
    experiments/<id>.json     online experiments: split (salt, share), champion and challenger versions, start/end
    reports/<run>/            run reports
    manifests/<run>.json      data versions used by a run
    cache/                    content-hash caches (generations, embeddings)
    redacted/<target>         copies of version targets without privacy.dvc_remote_drop_columns,
                              pushed to the DVC remote instead of the originals (data/redaction.py)
    state/                    bookkeeping: processed batches (batches.json), DVC lock, the lake lock
                              (lake-holder.json, lake.lock, lake.guard; see lake_lock.py) and
                              checkout-backups/ (data a `data checkout` replaced)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from recaug import io

SECTIONS = (
    "landing", "raw", "quarantine", "curated", "augment", "embeddings", "features",
    "feast", "events", "models", "deploy", "experiments", "reports", "manifests", "cache", "state", "secrets", "redacted",
)


@dataclass(frozen=True)
class Lake:
    """A data lake rooted at a local path or an fsspec URL."""

    root: str

    @classmethod
    def at(cls, root: str | os.PathLike) -> "Lake":
        root = str(root)
        if io.is_local(root) and "://" not in root:
            root = str(Path(root).expanduser().resolve())
        return cls(root)

    def url(self, section: str, *parts: str) -> str:
        if section not in SECTIONS:
            raise ValueError(f"unknown lake section {section!r}; expected one of {SECTIONS}")
        return io.join(self.root, section, *parts)

    @property
    def is_local(self) -> bool:
        return io.is_local(self.root)

    def local(self, section: str, *parts: str) -> Path:
        """The same location as a local Path, for tools that need a real directory
        (DVC, Feast's SQLite store, GX data docs)."""
        if not self.is_local:
            raise ValueError(
                f"{section} needs a local data lake, but the lake root is {self.root!r}; "
                "set lake_root to a local path for this stage"
            )
        path = Path(self.url(section, *parts).removeprefix("file://"))
        return path

    def ensure(self) -> "Lake":
        if self.is_local:
            for section in SECTIONS:
                self.local(section).mkdir(parents=True, exist_ok=True)
        return self

    # Canonical file locations shared by several stages.
    @property
    def interactions(self) -> str:
        return self.url("curated", "interactions.parquet")

    @property
    def items(self) -> str:
        return self.url("curated", "items.parquet")

    @property
    def users(self) -> str:
        return self.url("curated", "users.parquet")
