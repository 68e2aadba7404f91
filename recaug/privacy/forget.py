"""`recaug privacy forget USER...`: remove users from every derived place of the lake.

What goes (docs/PRIVACY.md has the full list and what stays):
- their rows in curated/ (interactions, users), augment/ (profiles, augmented
  interactions), embeddings/ (users table and shards), features/ (user tables; the
  build manifest is updated so the next materialize stays incremental);
- the generation-cache entries made from their data (tagged with their keyed
  pseudonym, or named by their profile rows) and the cached vectors of their profiles;
- their rows in the online store (SQLite, vacuumed; or Redis);
- their lines in the closed segments of the feedback event log (events/).
Then every file left in those sections is searched for the ids; any hit is reported.

raw/, landing/, quarantine/ and DVC's cache and remote are immutable records of what
arrived and are not rewritten (the next full rebuild from raw/ would bring the users
back: delete or re-version those batches, and see `privacy.dvc_remote_drop_columns`).

Run it under the lake lock (the CLI holds it). Each file is rewritten atomically; a
rerun removes nothing more (idempotent), and a crash part-way is finished by a rerun.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Iterable

from pydantic import BaseModel, Field

from recaug import io
from recaug.lake import SECTIONS

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)

#: (section, file glob) of every table keyed by `user_id` that forget rewrites
USER_TABLES = (
    ("curated", "interactions.parquet"), ("curated", "users.parquet"),
    ("augment", "user_profiles.parquet"), ("augment", "interactions.parquet"),
    ("embeddings", "users.parquet"), ("embeddings", "shards/users-*.parquet"),
    ("features", "user_*.parquet"),
)
IMMUTABLE_SECTIONS = ("raw", "landing", "quarantine")
#: sections searched for residues after the removal: all but the records of what arrived, the DVC-pushed
#: redacted copies, the bookkeeping (checkout backups) and the pseudonym key
SEARCHED_SECTIONS = tuple(s for s in SECTIONS if s not in (*IMMUTABLE_SECTIONS, "redacted", "state", "secrets"))


class ForgetResult(BaseModel):
    users: int = Field(description="users asked to be forgotten")
    removed: dict[str, int] = Field(default_factory=dict, description="place -> rows or entries removed")
    residues: list[str] = Field(default_factory=list, description="lake files still holding one of the ids afterwards")
    not_rewritten: list[str] = Field(default_factory=list, description="immutable places that may still hold them")

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def forget_users(settings: "Settings", user_ids: Iterable[str]) -> ForgetResult:
    """Remove `user_ids` from the derived data of the lake; see the module docstring."""
    from recaug.augment.cache import GenerationCache
    from recaug.privacy.pseudonyms import Pseudonymiser

    users = sorted({str(u) for u in user_ids})
    if not users:
        from recaug.errors import ConfigError

        raise ConfigError("give at least one user id to forget")
    lake = settings.lake
    result = ForgetResult(users=len(users))
    profiles = _rows_of(lake.url("augment", "user_profiles.parquet"), users)
    embedded = _user_embeddings(settings, users)

    pseudonyms = {Pseudonymiser.for_lake(settings)(u) for u in users}
    profile_keys = set(profiles["content_hash"].dropna()) if profiles is not None and "content_hash" in profiles else set()
    result.removed["cache/generations"] = GenerationCache(lake.url("cache", "generations")).remove(pseudonyms, profile_keys)
    result.removed["cache/embeddings"] = _forget_cached_vectors(settings, profiles, embedded)

    for section, pattern in USER_TABLES:
        for url in _files(lake.url(section), pattern):
            removed = _drop_user_rows(url, users)
            if removed:
                result.removed[_relative(lake, url)] = removed
                if section == "features":
                    _update_feature_manifest(settings, url)

    from recaug.features.erase import delete_online_users

    result.removed["feast online store"] = delete_online_users(settings, users)
    result.removed["events log"], busy = _forget_events(settings, users)
    found = find_traces(settings, users)
    named = {_relative(lake, path): path for path in busy}
    result.residues = [f"{r} (active segment of a running writer: forget again once it is sealed)" if r in named else r
                       for r in found] + [f"{path} (active segment of a running writer)" for r, path in named.items()
                                          if r not in found]
    result.not_rewritten = [*(s + "/" for s in IMMUTABLE_SECTIONS), "redacted/", "state/checkout-backups/",
                            "the DVC cache and remote"]
    for place, count in sorted(result.removed.items()):
        if count:
            log.info("forget: %s: removed %d", place, count)
    for url in result.residues:
        log.warning("forget: %s still holds a forgotten user id", url)
    log.info("forget: %d user(s), %d rows/entries removed, %d residue file(s); not rewritten: %s",
             len(users), result.total, len(result.residues), ", ".join(result.not_rewritten))
    return result


def _forget_events(settings: "Settings", users: list[str]) -> tuple[int, list[str]]:
    """Drop the users' lines from the feedback event log's closed segments (sealed, being
    exported, exported), each rewritten atomically. A segment a live gateway still writes
    cannot be rewritten under it: returned as a residue (forget again once it is sealed)."""
    from recaug.events import segments
    from recaug.events.log import log_root

    root = log_root(settings)
    if not root.is_dir():
        return 0, []
    segments.seal_orphans(root)  # segments of dead writers become closed ones
    removed, busy = 0, []
    wanted = set(users)
    for path in segments.all_segments(root):
        data = path.read_bytes()
        lines = data.splitlines(keepends=True)
        kept = [line for line in lines if _event_user(line) not in wanted]
        if len(kept) == len(lines):
            continue
        if path.parent.name == segments.ACTIVE:
            busy.append(str(path))
            continue
        io.write_bytes(str(path), b"".join(kept))
        removed += len(lines) - len(kept)
    return removed, busy


def _event_user(line: bytes) -> str | None:
    try:
        return str(json.loads(line).get("user_id"))
    except (ValueError, AttributeError):
        return None  # a torn line: not an acknowledged event


def _relative(lake, url: str) -> str:
    """`url` relative to the lake root (fsspec may spell local paths as file:// URLs)."""
    root = lake.root.removeprefix("file://").rstrip("/") + "/"
    path = url.removeprefix("file://")
    return path[len(root):] if path.startswith(root) else url


def _files(root: str, pattern: str) -> list[str]:
    fs, path = io.filesystem(root)
    if not fs.exists(path):
        return []
    return sorted(fs.unstrip_protocol(p) for p in fs.glob(io.join(path, pattern))
                  if not p.rsplit("/", 1)[-1].startswith("."))


def _rows_of(url: str, users: list[str]):
    """The rows of `users` in a user table (None when the table does not exist)."""
    if not io.exists(url):
        return None
    frame = io.read_parquet(url)
    return frame[frame["user_id"].astype(str).isin(users)]


def _user_embeddings(settings: "Settings", users: list[str]):
    import pandas as pd

    frames = [_rows_of(url, users) for url in [settings.lake.url("embeddings", "users.parquet"),
                                               *_files(settings.lake.url("embeddings"), "shards/users-*.parquet")]]
    frames = [f for f in frames if f is not None and len(f)]
    return pd.concat(frames, ignore_index=True) if frames else None


def _forget_cached_vectors(settings: "Settings", profiles, embedded) -> int:
    """Cached embeddings of the users' profile texts, under each encoder that embedded them."""
    from recaug.embed.cache import EmbeddingCache, cache_key
    from recaug.embed.texts import user_texts

    if profiles is None or embedded is None or not len(profiles):
        return 0
    texts = set(user_texts(profiles)["text"])
    removed = 0
    for (name, version), rows in embedded.groupby(["encoder", "encoder_version"]):
        cache = EmbeddingCache(settings.lake.url("cache", "embeddings"), name, version, len(rows["embedding"].iloc[0]))
        removed += cache.remove({cache_key(t, name, version) for t in texts})
    return removed


def _drop_user_rows(url: str, users: list[str]) -> int:
    """Rewrite a Parquet table without the rows of `users`, schema and metadata unchanged."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    fs, path = io.filesystem(url)
    with fs.open(path, "rb") as fh:
        table = pq.read_table(fh)
    if "user_id" not in table.column_names:
        return 0
    doomed = pc.is_in(table.column("user_id").cast(pa.string()), value_set=pa.array(users, pa.string()))
    count = pc.sum(doomed).as_py() or 0
    if not count:
        return 0
    sink = pa.BufferOutputStream()
    pq.write_table(table.filter(pc.invert(pc.fill_null(doomed, False))), sink)
    io.write_bytes(url, sink.getvalue().to_pybytes())
    return int(count)


def _update_feature_manifest(settings: "Settings", url: str) -> None:
    """Keep features/_manifest.json true to the rewritten table, as a change relative to
    the previous bytes: the next materialize then reloads only what is new (rows cannot be
    un-materialized; the online store is cleaned separately)."""
    from recaug.features.build import MANIFEST, features_url, read_manifest

    manifest = read_manifest(settings)
    name = url.rsplit("/", 1)[-1].removesuffix(".parquet")
    if manifest is None or name not in manifest.tables:
        return
    previous = manifest.tables[name]
    rows = io.read_parquet(url, columns=["user_id"])
    manifest.tables[name] = previous.model_copy(update={
        "rows": len(rows), "sha256": io.sha256_file(url), "changed_since": previous.sha256, "changed_rows": 0,
        "earliest_change": None, "written": True,
    })
    io.write_json(features_url(settings, MANIFEST), manifest.model_dump(mode="json"))


def find_traces(settings: "Settings", users: list[str], sections: Iterable[str] = SEARCHED_SECTIONS) -> list[str]:
    """Files under `sections` that still hold one of the ids: Parquet by value (its pages
    are compressed), everything else (JSON, SQLite, text) by bytes."""
    lake = settings.lake
    found = []
    for section in sections:
        for url in _files(lake.url(section), "**"):
            fs, path = io.filesystem(url)
            if fs.isdir(path):
                continue
            if _holds(url, users):
                found.append(_relative(lake, url))
    return found


def _holds(url: str, users: list[str]) -> bool:
    import re

    if url.endswith(".parquet"):
        return bool(_parquet_strings(url) & set(users))
    pattern = re.compile(rb"(?<![A-Za-z0-9_.-])(" + b"|".join(re.escape(u.encode("utf-8")) for u in users)
                         + rb")(?![A-Za-z0-9_-])")
    return pattern.search(io.read_bytes(url)) is not None


def _parquet_strings(url: str) -> set[str]:
    """Every string value of a Parquet file, inside lists too."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    fs, path = io.filesystem(url)
    with fs.open(path, "rb") as fh:
        table = pq.read_table(fh)
    values: set[str] = set()
    for column in table.columns:
        while pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = pc.list_flatten(column)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or pa.types.is_dictionary(column.type):
            values.update(str(v) for v in column.to_pylist() if v is not None)
    return values
