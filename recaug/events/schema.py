"""The fields of a feedback event, as sent to POST /events and as read back from the log."""

from __future__ import annotations

EVENT_TYPES = ("impression", "click", "purchase", "rating")
REQUIRED_FIELDS = ("user_id", "item_id", "event_type")
OPTIONAL_FIELDS = ("event_id", "value", "timestamp", "request_id", "arm", "model_version")
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
TAG_FIELDS = ("event_id", "request_id", "arm", "model_version")

# What read_events returns, in order (the contract the experiment report reads).
COLUMNS = (
    "event_id", "user_id", "item_id", "event_type", "value", "timestamp",
    "request_id", "arm", "model_version", "received_at",
)
TIME_COLUMNS = ("timestamp", "received_at")
