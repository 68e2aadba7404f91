"""EventIntake (what POST /events runs) and the unknown-id policy, on a real lake."""

from __future__ import annotations

import json
import os
import time

import pandas as pd
import pytest

from recaug import io
from recaug.events.catalogue import Catalogue
from recaug.events.intake import EventIntake
from recaug.events.log import read_events
from recaug.events.validation import EventsRejected


def _catalogue(settings, items: list[str]) -> None:
    io.write_parquet(pd.DataFrame({"item_id": items, "title": items}), settings.lake.items)


@pytest.mark.slow  # opens Feast
def test_events_are_logged_even_when_the_online_store_cannot_take_them(settings):
    _catalogue(settings, ["i1"])  # no Feast registry in this lake: the push fails
    intake = EventIntake(settings)
    try:
        receipt = intake.receive(json.dumps({"event_id": "a", "user_id": "u", "item_id": "i1",
                                             "event_type": "click"}).encode())
    finally:
        intake.close()
    assert (receipt.received, receipt.logged, receipt.online) == (1, 1, "failed")
    assert read_events(settings)["event_id"].tolist() == ["a"]


def test_bodies_that_are_not_json_or_too_big_are_refused(settings):
    settings.events.max_body_bytes = 2048
    intake = EventIntake(settings)
    try:
        with pytest.raises(EventsRejected, match="body: json"):
            intake.parse(b"{nope")
        with pytest.raises(EventsRejected, match="body: body size"):
            intake.parse(b" " * 2049)
    finally:
        intake.close()


def test_items_added_to_curated_are_known_after_the_check_interval(settings):
    _catalogue(settings, ["i1"])
    settings.events.catalogue_check_interval_s = 0.01
    catalogue = Catalogue(settings)
    record = {"user_id": "u", "item_id": "i2"}
    assert [p.rule for p in catalogue.problems(0, record, settings.events)] == ["unknown item"]
    _catalogue(settings, ["i1", "i2"])
    os.utime(settings.lake.items, (time.time() + 5, time.time() + 5))  # a later modification time
    time.sleep(0.02)
    assert catalogue.problems(0, record, settings.events) == []


def test_unknown_users_are_refused_only_when_configured(settings):
    _catalogue(settings, ["i1"])
    io.write_parquet(pd.DataFrame({"user_id": ["known"], "item_id": ["i1"],
                                   "timestamp": pd.to_datetime(["2026-01-01"], utc=True)}), settings.lake.interactions)
    assert Catalogue(settings).problems(0, {"user_id": "new", "item_id": "i1"}, settings.events) == []
    settings.events.unknown_users = "reject"
    catalogue = Catalogue(settings)
    assert [p.rule for p in catalogue.problems(0, {"user_id": "new", "item_id": "i1"}, settings.events)] == ["unknown user"]
    assert catalogue.problems(0, {"user_id": "known", "item_id": "i1"}, settings.events) == []


def test_a_quiet_gateway_seals_its_segment_once_it_is_old_enough(settings):
    from recaug.events import segments
    from recaug.events.log import log_root

    _catalogue(settings, ["i1"])
    settings.events.segment_max_age_s = 0.2
    intake = EventIntake(settings)
    try:
        intake.log.log(intake.parse(b'{"user_id": "u", "item_id": "i1", "event_type": "impression"}'))
        sealed = log_root(settings) / segments.SEALED
        deadline = time.monotonic() + 30
        while not segments.segments_in(sealed) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(segments.segments_in(sealed)) == 1, "no append came, the segment was sealed anyway"
        assert segments.segments_in(log_root(settings) / segments.ACTIVE) == []
    finally:
        intake.close()
