"""`recaug lake status | unlock`: see and release the lake-wide run lock."""

from __future__ import annotations

import json


def register(commands) -> None:
    lake = commands.group("lake", "the lake-wide run lock: who writes the lake now")
    status = lake.add("status", "show who holds the lake lock and whether a new run could start", _status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    lake.add("unlock", "release the lease of an abandoned run (refused while any of its processes runs)", _unlock)


def _status(args, settings) -> int:
    from recaug.lake_lock import LakeLock

    status = LakeLock(settings.lake, settings.lock).status()
    if args.json:
        print(json.dumps(status.model_dump(mode="json"), indent=2))
    else:
        print(f"lake {settings.lake.root}: {'free' if status.free else 'busy'} ({status.reason})")
    return 0


def _unlock(args, settings) -> int:
    from recaug.lake_lock import LakeLock

    holder = LakeLock(settings.lake, settings.lock).unlock()
    print(f"released the lock of {holder.describe()}" if holder else f"lake {settings.lake.root} was not locked")
    return 0
