"""`recaug events export`: logged feedback events -> a landing batch for the next ingest."""

from __future__ import annotations

import json


def register(commands) -> None:
    group = commands.group("events", "feedback events logged by the gateway (POST /events)")
    parser = group.add("export", "write the sealed event-log segments as one landing batch (exactly once)", _export)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _export(args, settings) -> int:
    from recaug.events.export import export_events

    result = export_events(settings)
    print(json.dumps(result.model_dump(mode="json"), indent=2) if args.json else result.summary())
    return 0
