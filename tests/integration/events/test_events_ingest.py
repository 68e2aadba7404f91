"""Logged feedback events become a normal landing batch (`recaug events export`) that the real
ingest validates with the GX suites and merges into curated, exactly once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd

from recaug.cli import main
from recaug.data.landing import write_batch
from recaug.events.export import export_events
from recaug.events.log import EventLog
from recaug.validate.ingest import ingest
from recaug.validate.state import Ledger


def _first_batch(settings) -> None:
    items = pd.DataFrame({"item_id": ["i1", "i2", "i3"], "title": ["One", "Two", "Three"]})
    history = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["i1", "i2"],
                            "timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)})
    write_batch(settings.lake.url("landing"), "2026-01-02", {"items": items, "interactions": history})
    assert ingest(settings).accepted == ["2026-01-02"]


def test_exported_events_are_ingested_as_a_batch_and_never_twice(settings, capsys):
    _first_batch(settings)
    now = datetime.now(timezone.utc)
    with EventLog(settings) as event_log:
        event_log.append([
            {"event_id": "e1", "user_id": "u1", "item_id": "i3", "event_type": "click", "timestamp": now - timedelta(hours=1)},
            {"event_id": "e2", "user_id": "new-user", "item_id": "i2", "event_type": "rating", "value": 5.0},
            {"event_id": "e3", "user_id": "u2", "item_id": "i1", "event_type": "impression"},
        ])

    assert main(["events", "export", "--json", "--lake", settings.lake_root]) == 0
    [batch] = json.loads(capsys.readouterr().out)["batches"]
    result = ingest(settings)
    assert result.accepted == [batch] and not result.rejected
    curated = pd.read_parquet(settings.lake.interactions)
    fresh = curated[curated["user_id"].isin(["u1", "new-user"]) & curated["item_id"].isin(["i3", "i2"])]
    assert sorted(fresh["event_type"]) == ["click", "rating"] and len(curated) == 4  # the impression is not an interaction
    assert fresh.set_index("event_type").loc["rating", "rating"] == 5.0
    assert Ledger.load(settings.lake.url("state", "batches.json")).batches[batch].status == "accepted"

    assert main(["events", "export", "--lake", settings.lake_root]) == 0
    assert "no new batch" in capsys.readouterr().out
    assert ingest(settings).accepted == []
    assert len(pd.read_parquet(settings.lake.interactions)) == 4


def test_events_on_items_unknown_to_curated_are_quarantined_by_the_suites(settings):
    """The nightly rules judge the batch whatever the gateway's policy was (here unknown
    items were accepted at the endpoint): the batch is quarantined with its report."""
    _first_batch(settings)
    settings.events.unknown_items = "accept"
    with EventLog(settings) as event_log:
        event_log.append([{"event_id": "x", "user_id": "u1", "item_id": "not-in-catalogue", "event_type": "click"}])
    [batch] = export_events(settings).batches
    result = ingest(settings)
    assert result.rejected == [batch] and "unknown item" in result.summary()
