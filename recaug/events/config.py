"""Configuration of the feedback-event endpoint, log and nightly export."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from recaug.events.schema import EVENT_TYPES


class EventsConfig(BaseModel):
    log_dir: str | None = Field(None, description="folder of the event log (local); default <lake>/events")
    max_events_per_request: int = Field(1000, ge=1, description="most events one POST /events may carry")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="largest POST /events body; a bigger one is refused unread")
    max_id_chars: int = Field(256, ge=1, description="longest user or item id")
    max_tag_chars: int = Field(128, ge=1, description="longest event_id, request_id, arm or model_version")
    max_age_days: float = Field(7.0, gt=0, description="oldest accepted event time; older feedback goes through landing")
    future_tolerance_s: float = Field(300.0, ge=0, description="clock skew allowed for event times")
    unknown_items: Literal["reject", "accept"] = Field("reject", description="events on items not in curated items")
    unknown_users: Literal["accept", "reject"] = Field(
        "accept", description="events of users with no curated interaction (accept: new users are the cold-start case)")
    catalogue_check_interval_s: float = Field(30.0, gt=0, description="how often the known ids are re-read when curated changes")
    segment_max_bytes: int = Field(16 << 20, ge=4096, description="a log segment is sealed once it holds this many bytes")
    segment_max_age_s: float = Field(300.0, gt=0, description="a log segment is sealed at the first append after this age")
    dedup_window_hours: float = Field(
        24.0, ge=0, description="event_ids of segments younger than this are remembered when a writer opens the log")
    push_event_types: list[str] = Field(
        ["click", "purchase", "rating"], description="event types appended to the online user history")
    export_event_types: list[str] = Field(
        ["click", "purchase", "rating"], description="event types exported as interactions (impressions are not interactions)")

    def model_post_init(self, _context) -> None:
        for name in ("push_event_types", "export_event_types"):
            unknown = sorted(set(getattr(self, name)) - set(EVENT_TYPES))
            if unknown:
                raise ValueError(f"events.{name}: unknown event type(s) {unknown}; expected among {list(EVENT_TYPES)}")
