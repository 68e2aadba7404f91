"""Forget in the feedback event log: closed segments are rewritten without the user's
events; a segment a live writer still appends to is reported, not touched."""

from __future__ import annotations

from recaug.events.log import EventLog, log_root, read_events
from recaug.privacy.forget import forget_users


def _event(n: int, user: str) -> dict:
    return {"event_id": f"e{n}", "user_id": user, "item_id": f"i{n}", "event_type": "click"}


def test_closed_segments_lose_the_users_events_and_active_ones_are_reported(settings):
    with EventLog(settings) as closed:
        closed.append([_event(1, "forget-me-1"), _event(2, "keep-me"), _event(3, "forget-me-1")])
    live = EventLog(settings)
    try:
        live.append([_event(4, "forget-me-1"), _event(5, "keep-me")])
        result = forget_users(settings, ["forget-me-1"])
        assert result.removed["events log"] == 2
        assert len(result.residues) == 1 and "active segment of a running writer" in result.residues[0]
        sealed = b"".join(p.read_bytes() for p in (log_root(settings) / "sealed").glob("*.jsonl"))
        assert b"forget-me-1" not in sealed and b"keep-me" in sealed
    finally:
        live.close()
    again = forget_users(settings, ["forget-me-1"])  # the writer sealed its segment: now it goes too
    assert again.removed["events log"] == 1 and again.residues == []
    events = read_events(settings)
    assert set(events["user_id"]) == {"keep-me"} and sorted(events["event_id"]) == ["e2", "e5"]
