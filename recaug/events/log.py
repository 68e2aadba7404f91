"""The durable, append-only event log: `EventLog.append` returns only after the events are
fsynced; `read_events` reads every segment back as one table.

Appends are group-committed: concurrent callers queue their lines, one of them (the
leader) writes everything queued with one write and one fsync, then wakes the others.
Under load that is one fsync per group instead of one per request. Each writer owns its
own segment (see segments.py), so several gateway processes can share one log.

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
from dataclasses import dataclass, field
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
class _Ticket:
    lines: list[tuple[str, bytes]]
    done: threading.Event = field(default_factory=threading.Event)
    seal: bool = False  # seal the segment once this group is written
    written: list[int] = field(default_factory=list)  # positions of the lines that were new
    error: BaseException | None = None


class EventLog:
    """One writer of the log. `append` is thread-safe; call `close` to seal the segment."""

    def __init__(self, settings: "Settings", root: Path | None = None):
        self.config = settings.events
        self.root = root or log_root(settings)
        self._rating_range = (settings.validate_.rating_min, settings.validate_.rating_max)
        self._mutex = threading.Lock()
        self._pending: list[_Ticket] = []
        self._flushing = False
        self._fd: int | None = None
        self._path: Path | None = None
        self._opened_at = 0.0
        self._size = 0
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
        """Log records from `validate_events` durably; returns those not logged before."""
        received = datetime.now(timezone.utc)
        ticket = _Ticket([(r["event_id"], encode(r, received)) for r in records])
        self._submit(ticket)
        return [records[position] for position in ticket.written]

    def _submit(self, ticket: _Ticket) -> None:
        with self._mutex:
            self._pending.append(ticket)
            leader = not self._flushing
            self._flushing = True
        if leader:
            self._lead()
        ticket.done.wait()
        if ticket.error is not None:
            raise ticket.error

    def _lead(self) -> None:
        """Write groups until nothing is queued (waiters that arrive meanwhile join the next group)."""
        while True:
            with self._mutex:
                group, self._pending = self._pending, []
                if not group:
                    self._flushing = False
                    return
            try:
                self._commit(group)
            except BaseException as exc:  # every waiter of this group learns it was not logged
                for ticket in group:
                    ticket.error = exc
            for ticket in group:
                ticket.done.set()

    def _commit(self, group: list[_Ticket]) -> None:
        chunks, fresh = [], []
        for ticket in group:
            for position, (event_id, line) in enumerate(ticket.lines):
                if event_id not in self._seen:
                    self._seen.add(event_id)
                    fresh.append(event_id)
                    chunks.append(line)
                    ticket.written.append(position)
        if chunks:
            try:
                self._write(b"".join(chunks))
            except BaseException:
                self._seen.difference_update(fresh)  # not logged: a retry must be able to log them
                raise
        if any(ticket.seal for ticket in group):
            self._seal()

    def _write(self, data: bytes) -> None:
        try:
            if self._fd is None or self._due_for_rotation():
                self._rotate()
            _write_all(self._fd, data)
            os.fdatasync(self._fd)
        except BaseException:
            self._abandon_segment()
            raise
        self._size += len(data)

    def _due_for_rotation(self) -> bool:
        return (self._size >= self.config.segment_max_bytes
                or time.monotonic() - self._opened_at >= self.config.segment_max_age_s)

    def _rotate(self) -> None:
        """Seal the current segment (if any) and start a new one, locked before it is visible."""
        self._seal()
        active = self.root / segments.ACTIVE
        name = segments.new_segment_name()
        hidden = active / f".{name}"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(hidden, active / name)
        segments.fsync_directory(active)
        self._fd, self._path, self._size, self._opened_at = fd, active / name, 0, time.monotonic()

    def _seal(self) -> None:
        if self._fd is None:
            return
        fd, path, size = self._fd, self._path, self._size
        self._fd = self._path = None
        try:
            if size:
                os.fsync(fd)
                segments.move(path, self.root / segments.SEALED)
            else:
                path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the flock

    def _abandon_segment(self) -> None:
        """After a failed write the segment may end in a torn line: stop writing to it.
        It stays locked-free and active, so the next export seals it as an orphan."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = self._path = None

    def rotate(self) -> None:
        """Seal the current segment now (the export takes sealed segments only)."""
        self._submit(_Ticket([], seal=True))

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
