"""`recaug lake status | unlock | hold`: see, release and hold the lake-wide run lock."""

from __future__ import annotations

import argparse
import json
import os
import subprocess


def register(commands) -> None:
    lake = commands.group("lake", "the lake-wide run lock: who writes the lake now")
    status = lake.add("status", "show who holds the lake lock and whether a new run could start", _status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    lake.add("unlock", "release the lease of an abandoned run (refused while any of its processes runs)", _unlock)
    hold = lake.add("hold", "run a command holding the lake lock throughout (its recaug processes join it), "
                            "e.g. `recaug lake hold -- dvc repro`", _hold)
    hold.add_argument("command_line", nargs=argparse.REMAINDER, metavar="-- COMMAND ...", help="the command to run")


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


def _hold(args, settings) -> int:
    from recaug.errors import RecaugError
    from recaug.lake_lock import LEASE_ENV, cli_claim, lake_writer

    command = args.command_line[1:] if args.command_line[:1] == ["--"] else args.command_line
    if not command:
        raise RecaugError("give the command to run after --, e.g. `recaug lake hold -- dvc repro`")
    claim = cli_claim(settings.run_id, "recaug lake hold -- " + " ".join(command))
    with lake_writer(settings, claim):
        return subprocess.run(command, env={**os.environ, LEASE_ENV: claim.key}).returncode
