"""POST /events on the gateway: feedback events (click, purchase, rating, impression).

The body is read in chunks and refused (413) past `events.max_body_bytes`, so a huge
body never fills memory; invalid events are refused whole (422) with each problem
naming the event, field and rule; 200 means the events are fsynced in the event log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from recaug.events.intake import EventIntake
    from recaug.settings import Settings

log = logging.getLogger(__name__)
EVENTS_UNAVAILABLE = "events_unavailable"


def open_intake(settings: "Settings") -> "EventIntake | None":
    """The gateway's event intake; None (POST /events answers 503) when the event log
    cannot live where configured, e.g. an object-store lake without `events.log_dir`:
    recommendations must not depend on it."""
    from recaug.events.intake import EventIntake

    try:
        return EventIntake(settings)
    except (ValueError, OSError) as exc:
        log.error("gateway: POST /events disabled: %s: %s", type(exc).__name__, exc)
        return None


def add_events_route(app: FastAPI, intake: Callable[[], "EventIntake | None"]) -> None:
    from recaug.events.intake import EventsReceipt
    from recaug.events.validation import EventsRejected, Problem

    @app.post("/events", response_model=EventsReceipt)
    async def events(request: Request):
        current = intake()
        if current is None:
            return JSONResponse({"error": EVENTS_UNAVAILABLE, "detail": "the event log is not available (see the "
                                 "gateway log); set events.log_dir to a local folder"}, status_code=503)
        limit = current.config.max_body_bytes
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            declared = 0
        body = bytearray()
        if declared <= limit:
            async for chunk in request.stream():
                body += chunk
                if len(body) > limit:
                    break
        size = max(declared, len(body))
        try:
            if size > limit:
                raise EventsRejected([Problem(None, None, "body size", f"over {size - 1:,} bytes, the limit is "
                                              f"{limit:,} (events.max_body_bytes)")])
            return await current.areceive(bytes(body))
        except EventsRejected as exc:
            status = 413 if exc.problems[0].rule == "body size" else 422
            return JSONResponse({"error": "invalid_events", "problems": exc.as_json()}, status_code=status)
