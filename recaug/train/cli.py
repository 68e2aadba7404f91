"""`recaug train`, `recaug evaluate`, `recaug gate`."""

from __future__ import annotations

import json


def _print(result) -> None:
    print(json.dumps(result.model_dump(mode="json"), indent=2))


def _train(args, settings) -> int:
    from recaug.train.run import train

    _print(train(settings))
    return 0


def _evaluate(args, settings) -> int:
    from recaug.train.evaluate import evaluate

    _print(evaluate(settings, args.artifact))
    return 0


def _gate(args, settings) -> int:
    from recaug.train.gate import gate

    decision = gate(settings, args.artifact)
    _print(decision)
    return 0 if decision.deploy or not args.fail_on_reject else 4


def register(commands) -> None:
    commands.add("train", "train the sequential recommender on the lake into models/<run>/", _train)
    for name, help_text, handler in (
        ("evaluate", "evaluate a model artifact on the lake's data (full ranking, cold slices)", _evaluate),
        ("gate", "champion/challenger gate: propose the model for deploy if it is not worse than the live one", _gate),
    ):
        parser = commands.add(name, help_text, handler)
        parser.add_argument("--artifact", help="model artifact directory (default: models/<run-id>)")
        if name == "gate":
            parser.add_argument("--fail-on-reject", action="store_true", help="exit with status 4 when rejected")
