"""`recaug privacy forget USER...`: remove users from the lake's derived data (holds the lake lock)."""

from __future__ import annotations

import json


def register(commands) -> None:
    privacy = commands.group("privacy", "privacy operations on the lake")
    forget = privacy.add("forget", "remove users' cached LLM generations, profiles, embeddings, features and online "
                                   "features, and their curated rows (docs/PRIVACY.md)", _forget)
    forget.add_argument("users", nargs="+", metavar="USER", help="user id(s) to forget")
    forget.add_argument("--json", action="store_true", help="print the result as JSON")


def _forget(args, settings) -> int:
    from recaug.privacy.forget import forget_users

    result = forget_users(settings, args.users)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
        return 0
    print(f"forget: {result.users} user(s), {result.total} rows/entries removed")
    for place, count in sorted(result.removed.items()):
        print(f"  {place}: {count}")
    print(f"  not rewritten (records of what arrived and versions; docs/PRIVACY.md): {', '.join(result.not_rewritten)}")
    if result.residues:
        print(f"  still holding an id (check these): {', '.join(result.residues)}")
    return 0
