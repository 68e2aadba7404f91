"""validate_events: untrusted bodies are accepted whole or refused naming event, field and rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from recaug.events.config import EventsConfig
from recaug.events.validation import EventsRejected, validate_events

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
RATINGS = (0.0, 5.0)


def _validate(body, **config):
    return validate_events(body, EventsConfig(**config), RATINGS, now=NOW)


def _problems(body, **config) -> list[tuple]:
    with pytest.raises(EventsRejected) as caught:
        _validate(body, **config)
    return [(p.index, p.field, p.rule) for p in caught.value.problems]


def test_a_valid_batch_is_normalized():
    records = _validate({"events": [
        {"user_id": "u1", "item_id": "i1", "event_type": "click"},
        {"event_id": "x", "user_id": "u1", "item_id": "i2", "event_type": "rating", "value": 4,
         "timestamp": "2026-06-01T11:00:00+02:00", "request_id": "r", "arm": "challenger", "model_version": "7"},
        {"user_id": "u2", "item_id": "i3", "event_type": "purchase", "timestamp": NOW.timestamp() - 60},
    ]})
    assert records[0]["timestamp"] == NOW and len(records[0]["event_id"]) == 32
    assert records[1]["timestamp"] == datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc) and records[1]["value"] == 4.0
    assert records[2]["timestamp"] == NOW - timedelta(seconds=60)


def test_one_event_object_is_a_batch_of_one():
    assert _validate({"user_id": "u", "item_id": "i", "event_type": "impression"})[0]["user_id"] == "u"


@pytest.mark.parametrize("event, expected", [
    ({"item_id": "i", "event_type": "click"}, (0, "user_id", "required field")),
    ({"user_id": 5, "item_id": "i", "event_type": "click"}, (0, "user_id", "type")),
    ({"user_id": "", "item_id": "i", "event_type": "click"}, (0, "user_id", "id length")),
    ({"user_id": "u" * 257, "item_id": "i", "event_type": "click"}, (0, "user_id", "id length")),
    ({"user_id": " u", "item_id": "i", "event_type": "click"}, (0, "user_id", "id whitespace")),
    ({"user_id": "u\u202e", "item_id": "i", "event_type": "click"}, (0, "user_id", "control characters")),
    ({"user_id": "u", "item_id": "i", "event_type": "like"}, (0, "event_type", "event type")),
    ({"user_id": "u", "item_id": "i", "event_type": "rating"}, (0, "value", "required field")),
    ({"user_id": "u", "item_id": "i", "event_type": "rating", "value": 9}, (0, "value", "rating range")),
    ({"user_id": "u", "item_id": "i", "event_type": "click", "value": "NaN"}, (0, "value", "type")),
    ({"user_id": "u", "item_id": "i", "event_type": "click", "value": True}, (0, "value", "type")),
    ({"user_id": "u", "item_id": "i", "event_type": "click", "timestamp": "yesterday"}, (0, "timestamp", "type")),
    ({"user_id": "u", "item_id": "i", "event_type": "click", "timestamp": "2026-06-01T13:00:00Z"},
     (0, "timestamp", "timestamp range")),
    ({"user_id": "u", "item_id": "i", "event_type": "click", "timestamp": "2026-05-01T00:00:00Z"},
     (0, "timestamp", "timestamp range")),
    ({"user_id": "u", "item_id": "i", "event_type": "click", "timestamp": NOW.timestamp() * 1000},
     (0, "timestamp", "timestamp range")),
    ({"user_id": "u", "item_id": "i", "event_type": "click", "colour": "red"}, (0, "colour", "unknown field")),
    ({"user_id": "u", "item_id": "i", "event_type": "click", "event_id": ["x"]}, (0, "event_id", "type")),
    ("click", (0, None, "event shape")),
])
def test_each_rule_names_the_event_field_and_rule(event, expected):
    good = {"user_id": "u", "item_id": "i", "event_type": "click"}
    assert _problems({"events": [good, event]}) == [(1, *expected[1:])]


def test_milliseconds_get_a_hint():
    with pytest.raises(EventsRejected, match="epoch milliseconds"):
        _validate({"user_id": "u", "item_id": "i", "event_type": "click", "timestamp": NOW.timestamp() * 1000})


@pytest.mark.parametrize("body, expected", [
    ([], (None, "events", "not empty")),
    ({"events": "x"}, (None, None, "body shape")),
    (42, (None, None, "body shape")),
    ({"events": [], "extra": 1}, (None, "extra", "unknown field")),
])
def test_bad_bodies_are_refused(body, expected):
    assert _problems(body) == [expected]


def test_too_many_events_per_request_are_refused_before_any_is_read():
    body = {"events": [{"user_id": "u", "item_id": "i", "event_type": "click"}] * 11}
    assert _problems(body, max_events_per_request=10) == [(None, "events", "events per request")]


def test_every_problem_is_reported_and_a_duplicate_event_id_in_one_request_is_refused():
    body = [{"user_id": "u", "item_id": "i", "event_type": "x"}, {"user_id": 1, "item_id": "i", "event_type": "click"}]
    assert _problems(body) == [(0, "event_type", "event type"), (1, "user_id", "type")]
    twice = [{"event_id": "a", "user_id": "u", "item_id": "i", "event_type": "click"}] * 2
    assert _problems(twice) == [(1, "event_id", "duplicate event_id")]
