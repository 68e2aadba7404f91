"""`recaug features ...`: build the tables, apply definitions, materialize, serve, look up."""

from __future__ import annotations

import json
import signal


def register(commands) -> None:
    group = commands.group("features", "feature fusion and the Feast feature store")
    group.add("build", "fuse curated, augmented and embedding tables into point-in-time feature tables", _build)
    apply = group.add("apply", "register feature_repo/ definitions in Feast (only when they changed)", _apply)
    apply.add_argument("--force", action="store_true", help="apply even when the definitions hash is unchanged")
    group.add("materialize", "load new or changed feature rows into the online store (incremental)", _materialize)
    serve = group.add("serve", "run the Feast feature server on a loopback port until interrupted", _serve)
    serve.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    context = group.add("context", "print the online context of users (history, behaviour) as JSON", _context)
    context.add_argument("user_ids", nargs="+", metavar="USER_ID")
    context.add_argument("--profile", action="store_true", help="include all behaviour statistics and the profile embedding")


def _print(model) -> None:
    print(json.dumps(model.model_dump(mode="json"), indent=2))


def _build(args, settings) -> int:
    from recaug.features.build import build_features

    _print(build_features(settings))
    return 0


def _apply(args, settings) -> int:
    from recaug.features.store import apply_definitions

    _print(apply_definitions(settings, force=args.force))
    return 0


def _materialize(args, settings) -> int:
    from recaug.features.store import materialize

    _print(materialize(settings))
    return 0


def _serve(args, settings) -> int:
    from recaug.features.server import FeatureServer

    server = FeatureServer(settings, port=args.port)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the server on SIGTERM as on Ctrl-C
    with server:
        print(f"feature server on {server.url} (POST /get-online-features); Ctrl-C stops it", flush=True)
        try:
            server.process.wait()
            return 1  # the server exited by itself
        except KeyboardInterrupt:
            return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _context(args, settings) -> int:
    from recaug.features.online import get_user_context

    contexts = get_user_context(args.user_ids, settings, with_profile=args.profile)
    print(json.dumps([c.model_dump(mode="json") for c in contexts], indent=2))
    return 0
