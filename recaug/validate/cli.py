"""`recaug ingest`: validate landing batches, accept or quarantine them."""

from __future__ import annotations

import json


def register(commands) -> None:
    parser = commands.add("ingest", "validate landing batches (Great Expectations); accept into raw/ or quarantine", _ingest)
    parser.add_argument("--landing", help="landing directory (default: <lake>/landing)")
    parser.add_argument("--batch", dest="batches", action="append", help="process only this batch (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _ingest(args, settings) -> int:
    from recaug.validate.ingest import ingest

    result = ingest(settings, batches=args.batches, landing=args.landing)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    elif not result.rejected:
        print(result.summary())
    result.raise_for_rejections()
    return 0
