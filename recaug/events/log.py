"""The durable, append-only event log: `EventLog.append` returns only after the events are
fsynced; `read_events` reads every segment back as one table.

Appends are group-committed by the kernel: each caller writes its lines under a lock
and calls fdatasync outside it; syncs that wait at the same time are served by one
journal commit, so under load there is about one disk flush per group of requests, not
one per request (bench/bench_events.py compares it with write + fdatasync under one
lock, and with open/write/fsync per append). Each writer owns its own
segment (see segments.py), so several gateway processes can share one log.

Idempotence: an event whose event_id this writer has already logged (or that it found in
segments younger than `events.dedup_window_hours` when it opened the log) is not written
again; `read_events` also keeps only the first copy of each event_id, which covers two
writers receiving the same retry.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from recaug.events import segments
from recaug.events.schema import COLUMNS, TIME_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

    from recaug.settings import Settings

log = logging.getLogger(__name__)


def log_root(settings: "Settings") -> Path:
    """The local folder of the event log (`events.log_dir`, default <lake>/events)."""
    configured = settings.events.log_dir
    return Path(configured).expanduser().resolve() if configured else settings.lake.local("events")


@dataclass
class _Segment:
    """The open segment file of this writer, and the appends still syncing it."""

    fd: int
    path: Path
    opened_at: float
    size: int = 0
    syncing: int = 0  # appends between their write and the end of their fdatasync
    retired: bool = False  # no new writes; sealed (or dropped) once `syncing` is 0
    broken: bool = False  # a write or sync failed: left active, unsealed, for the export to seal


class EventLog:
    """One writer of the log. `append` is thread-safe; call `close` to seal the segment."""

    def __init__(self, settings: "Settings", root: Path | None = None):
        self.config = settings.events
        self.root = root or log_root(settings)
        self._rating_range = (settings.validate_.rating_min, settings.validate_.rating_max)
        self._mutex = threading.Lock()
        self._segment: _Segment | None = None
        for state in (segments.ACTIVE, segments.SEALED):
            (self.root / state).mkdir(parents=True, exist_ok=True)
        self._seen = self._recent_event_ids()

    # -- writing ------------------------------------------------------------------------
    def append(self, records: Iterable[dict[str, Any]]) -> int:
        """Log `records` durably (fsynced before returning); returns how many were new.

        Records are event dicts with the POST /events fields, validated here (raising
        EventsRejected when one breaks a rule)."""
        from recaug.events.validation import validate_events

        records = [_jsonable(r) for r in records]
        if not records:
            return 0
        limits = self.config.model_copy(update={"max_events_per_request": len(records)})
        return len(self.log(validate_events(records, limits, self._rating_range)))

    def log(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Log records from `validate_events` durably; returns those not logged before.

        The lines are written under the lock; the fdatasync runs outside it, so appends
        that arrive meanwhile are written and synced together: the kernel lets one journal
        commit serve every sync waiting on it (group commit without a flusher thread)."""
        received = datetime.now(timezone.utc)
        with self._mutex:
            fresh = [r for r in records if r["event_id"] not in self._seen]
            if not fresh:
                return []
            data = b"".join(encode(r, received) for r in fresh)
            segment = self._writable()
            try:
                _write_all(segment.fd, data)
            except BaseException:
                self._retire(segment, broken=True)
                raise
            segment.size += len(data)
            segment.syncing += 1
            self._seen.update(r["event_id"] for r in fresh)
        try:
            os.fdatasync(segment.fd)
        except BaseException:
            with self._mutex:  # not known to be durable: a retry must be able to log them
                self._seen.difference_update(r["event_id"] for r in fresh)
                segment.syncing -= 1
                self._retire(segment, broken=True)
            raise
        with self._mutex:
            segment.syncing -= 1
            self._settle(segment)
        return fresh

    def _writable(self) -> _Segment:
        """The segment to write to (caller holds the lock): a new one when there is none or
        the current one is due for sealing by size or age."""
        current = self._segment
        if current is not None and self._due(current):
            self._retire(current)
            current = None
        if current is None:
            current = self._segment = self._open_segment()
        return current

    def _due(self, segment: _Segment) -> bool:
        return (segment.size >= self.config.segment_max_bytes
                or time.monotonic() - segment.opened_at >= self.config.segment_max_age_s)

    def seal_if_due(self) -> None:
        """Seal the current segment when it is old enough, even with no append coming (the
        gateway calls it periodically, so a quiet night's events reach the nightly export)."""
        with self._mutex:
            if self._segment is not None and self._due(self._segment):
                self._retire(self._segment)

    def _open_segment(self) -> _Segment:
        """A new segment, locked before it becomes visible (so no export takes it for an orphan)."""
        active = self.root / segments.ACTIVE
        name = segments.new_segment_name()
        hidden = active / f".{name}"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(hidden, active / name)
        segments.fsync_directory(active)
        return _Segment(fd, active / name, time.monotonic())

    def _retire(self, segment: _Segment, broken: bool = False) -> None:
        """Stop writing to `segment` (caller holds the lock); it is sealed once its syncs end."""
        segment.retired = True
        segment.broken = segment.broken or broken
        if self._segment is segment:
            self._segment = None
        self._settle(segment)

    def _settle(self, segment: _Segment) -> None:
        """Seal a retired segment nobody syncs any more (an empty one is removed; a broken one
        is only closed: it may end in a torn line, which the export's orphan sealing cuts)."""
        if not segment.retired or segment.syncing or segment.fd < 0:
            return
        fd, segment.fd = segment.fd, -1
        try:
            if segment.broken:
                return
            if segment.size:
                os.fsync(fd)
                segments.move(segment.path, self.root / segments.SEALED)
            else:
                segment.path.unlink(missing_ok=True)
                segments.fsync_directory(segment.path.parent)
        finally:
            os.close(fd)  # releases the flock

    def rotate(self) -> None:
        """Seal the current segment (at once, or when its last sync ends): the export takes
        sealed segments only."""
        with self._mutex:
            if self._segment is not None:
                self._retire(self._segment)

    def close(self) -> None:
        self.rotate()

    def _recent_event_ids(self) -> set[str]:
        horizon = datetime.now(timezone.utc) - timedelta(hours=self.config.dedup_window_hours)
        seen: set[str] = set()
        for path in segments.all_segments(self.root):
            created = segments.created_at(path)
            if created is not None and created >= horizon:
                seen.update(row["event_id"] for row in _read_segment(path))
        return seen

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def encode(record: dict[str, Any], received: datetime) -> bytes:
    """One log line: the record with times as ISO 8601 UTC and its receive time."""
    row = {name: record.get(name) for name in COLUMNS if name != "received_at"}
    row["timestamp"] = record["timestamp"].isoformat()
    row["received_at"] = received.isoformat()
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    """A caller's record with datetimes (or pandas Timestamps) as ISO 8601 text."""
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in record.items()}


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# -- reading ----------------------------------------------------------------------------
def _read_segment(path: Path) -> list[dict[str, Any]]:
    """The acknowledged rows of one segment (a torn last line is skipped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:  # sealed or exported between listing and reading
        return []
    complete, torn = segments.complete_lines(data)
    if torn:
        log.debug("event log: %s ends in %d bytes of an unfinished line (skipped)", path.name, torn)
    rows = []
    for number, line in enumerate(complete.splitlines(), start=1):
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise ValueError(f"event log segment {path}: line {number} is not JSON ({exc})") from None
    return rows


def read_rows(paths: Iterable[Path]) -> "pd.DataFrame":
    """The rows of `paths` as a typed table, first copy of each event_id only."""
    import pandas as pd

    rows = []
    for path in paths:
        rows += _read_segment(path)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in COLUMNS:
        if column in TIME_COLUMNS:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
        elif column == "value":
            frame[column] = frame[column].astype("float64")
        else:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.drop_duplicates("event_id", keep="first").reset_index(drop=True)


def read_events(settings: "Settings", since: "datetime | pd.Timestamp | None" = None) -> "pd.DataFrame":
    """Every logged event (active, sealed and exported segments), by receive order.

    Columns: event_id, user_id, item_id, event_type (str), value (float, NaN when
    absent), timestamp (datetime64[ns, UTC]), request_id, arm, model_version (str or
    None), received_at (datetime64[ns, UTC]). `since` keeps events whose `timestamp`
    (event time) is at or after it."""
    import pandas as pd

    root = log_root(settings)
    frame = read_rows(segments.all_segments(root)).sort_values("received_at", kind="stable").reset_index(drop=True)
    if since is not None:
        moment = pd.Timestamp(since)
        moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
        frame = frame[frame["timestamp"] >= moment].reset_index(drop=True)
    return frame
