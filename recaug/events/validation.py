"""Untrusted POST /events bodies -> normalized event records, or every problem found.

The same rules as landing data, applied per event before anything is written: a request
is accepted whole or refused whole, and each problem names the event's index, the field
and the rule. Nothing here trusts a type: JSON can carry any value in any field.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from recaug.errors import RecaugError
from recaug.events.schema import EVENT_TYPES, FIELDS, REQUIRED_FIELDS, TAG_FIELDS

if TYPE_CHECKING:
    from recaug.events.catalogue import Catalogue
    from recaug.events.config import EventsConfig

# The characters the landing suites refuse in ids (control, invisible, direction overrides)
# plus the replacement character and lone surrogates (text that was not valid UTF-8).
FORBIDDEN_ID_CHARS = re.compile(
    "[\\x00-\\x1f\\x7f-\\x9f\\u200b-\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2060-\\u2069\\ufeff\\ufffd\\ud800-\\udfff]")
MAX_PROBLEMS_REPORTED = 20
# Epoch numbers this large are milliseconds (or finer) sent as seconds.
EPOCH_MILLIS_FLOOR = 1e11


@dataclass(frozen=True)
class Problem:
    index: int | None  # None: the body as a whole
    field: str | None
    rule: str
    details: str

    def __str__(self) -> str:
        where = "body" if self.index is None else f"event {self.index}"
        if self.field:
            where += f" field {self.field!r}"
        return f"{where}: {self.rule}: {self.details}"


class EventsRejected(RecaugError):
    """A request with at least one invalid event; nothing of it was logged (HTTP 422)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:MAX_PROBLEMS_REPORTED])
        more = len(problems) - MAX_PROBLEMS_REPORTED
        super().__init__(shown + (f"; and {more} more" if more > 0 else ""))

    def as_json(self) -> list[dict[str, Any]]:
        return [{"event": p.index, "field": p.field, "rule": p.rule, "details": p.details}
                for p in self.problems[:MAX_PROBLEMS_REPORTED]]


def events_of(body: Any, config: "EventsConfig") -> list[Any]:
    """The list of raw events in a body: {"events": [...]}, one event object, or a list."""
    if isinstance(body, dict) and "events" in body:
        extra = sorted(set(body) - {"events"})
        if extra:
            raise EventsRejected([Problem(None, extra[0], "unknown field", "a batch body holds only 'events'")])
        body = body["events"]
    elif isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise EventsRejected([Problem(None, None, "body shape",
                                      f"expected {{'events': [...]}} or one event object, got {type(body).__name__}")])
    if not body:
        raise EventsRejected([Problem(None, "events", "not empty", "no events in the request")])
    if len(body) > config.max_events_per_request:
        raise EventsRejected([Problem(None, "events", "events per request", f"{len(body)} events, over the limit of "
                                      f"{config.max_events_per_request} (events.max_events_per_request)")])
    return body


def validate_events(body: Any, config: "EventsConfig", rating_range: tuple[float, float],
                    catalogue: "Catalogue | None" = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Normalized records (see `normalize_event`) of every event in `body`; raises
    EventsRejected listing every problem when any event breaks a rule."""
    now = now or datetime.now(timezone.utc)
    records, problems = [], []
    for index, raw in enumerate(events_of(body, config)):
        record, found = normalize_event(index, raw, config, rating_range, now)
        if not found and catalogue is not None:
            found = catalogue.problems(index, record, config)
        problems += found
        records.append(record)
    if problems:
        raise EventsRejected(problems)
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        first = seen.setdefault(record["event_id"], index)
        if first != index:
            problems.append(Problem(index, "event_id", "duplicate event_id", f"same event_id as event {first}"))
    if problems:
        raise EventsRejected(problems)
    return records


def normalize_event(index: int, raw: Any, config: "EventsConfig", rating_range: tuple[float, float],
                    now: datetime) -> tuple[dict[str, Any], list[Problem]]:
    """(record, problems) for one raw event. The record holds event_id (a new uuid4 hex when
    absent), user_id, item_id, event_type, value (float or None), timestamp (aware UTC
    datetime; the receive time when absent), request_id, arm, model_version."""
    if not isinstance(raw, dict):
        return {}, [Problem(index, None, "event shape", f"expected an object, got {type(raw).__name__}")]
    problems = [Problem(index, name, "unknown field", f"expected only {list(FIELDS)}")
                for name in sorted(set(raw) - set(FIELDS))[:3]]
    problems += [Problem(index, name, "required field", "missing") for name in REQUIRED_FIELDS if raw.get(name) is None]
    record: dict[str, Any] = {}
    for name in ("user_id", "item_id"):
        if raw.get(name) is not None:
            record[name] = _text(index, name, raw[name], config.max_id_chars, problems)
    for name in TAG_FIELDS:
        record[name] = _text(index, name, raw[name], config.max_tag_chars, problems) if raw.get(name) is not None else None
    record["event_id"] = record["event_id"] or uuid.uuid4().hex
    event_type = raw.get("event_type")
    if event_type is not None and event_type not in EVENT_TYPES:
        problems.append(Problem(index, "event_type", "event type", f"{_quote(event_type)} is not one of {list(EVENT_TYPES)}"))
    record["event_type"] = event_type
    record["value"] = _value(index, event_type, raw.get("value"), rating_range, problems)
    record["timestamp"] = _timestamp(index, raw.get("timestamp"), config, now, problems)
    return record, problems


def _text(index: int, name: str, value: Any, limit: int, problems: list[Problem]) -> str | None:
    if not isinstance(value, str):
        problems.append(Problem(index, name, "type", f"expected a string, got {type(value).__name__} {_quote(value)}"))
        return None
    if not value or len(value) > limit:
        problems.append(Problem(index, name, "id length", f"{len(value)} characters; expected 1 to {limit}"))
    elif value != value.strip():
        problems.append(Problem(index, name, "id whitespace", f"{_quote(value)} has leading or trailing whitespace"))
    elif FORBIDDEN_ID_CHARS.search(value):
        problems.append(Problem(index, name, "control characters",
                                f"{_quote(value)} holds control, invisible or non-UTF-8 characters"))
    return value


def _value(index: int, event_type: Any, value: Any, rating_range: tuple[float, float],
           problems: list[Problem]) -> float | None:
    if value is None:
        if event_type == "rating":
            problems.append(Problem(index, "value", "required field", "a rating event needs its value"))
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(Problem(index, "value", "type", f"expected a finite number, got {_quote(value)}"))
        return None
    low, high = rating_range
    if event_type == "rating" and not low <= value <= high:
        problems.append(Problem(index, "value", "rating range", f"{value} is outside [{low:g}, {high:g}]"))
    return float(value)


def _timestamp(index: int, value: Any, config: "EventsConfig", now: datetime,
               problems: list[Problem]) -> datetime | None:
    if value is None:
        return now
    hint = ""
    try:
        if isinstance(value, bool):
            raise TypeError("a boolean")
        if isinstance(value, (int, float)):
            if abs(value) >= EPOCH_MILLIS_FLOOR:
                hint = " (epoch milliseconds? timestamps are epoch seconds or ISO 8601)"
            moment = datetime.fromtimestamp(float(value), timezone.utc)
        elif isinstance(value, str) and len(value) <= 64:
            moment = datetime.fromisoformat(value)
            moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
        else:
            raise TypeError(type(value).__name__)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        if hint:
            problems.append(Problem(index, "timestamp", "timestamp range", f"{_quote(value)} is not a time{hint}"))
        else:
            problems.append(Problem(index, "timestamp", "type",
                                    f"{_quote(value)} is not ISO 8601 or epoch seconds ({exc})"))
        return None
    earliest = now - timedelta(days=config.max_age_days)
    latest = now + timedelta(seconds=config.future_tolerance_s)
    if not earliest <= moment <= latest:
        problems.append(Problem(index, "timestamp", "timestamp range",
                                f"{moment.isoformat()} is outside [{earliest.isoformat(timespec='seconds')}, "
                                f"{latest.isoformat(timespec='seconds')}] (events.max_age_days, "
                                f"events.future_tolerance_s){hint}"))
    return moment


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
