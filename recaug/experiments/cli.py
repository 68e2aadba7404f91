"""`recaug experiment list|report|conclude`."""

from __future__ import annotations

import json


def _list(args, settings) -> int:
    from recaug.experiments.store import list_experiments

    print(json.dumps([e.model_dump(mode="json") for e in list_experiments(settings)], indent=2))
    return 0


def _report(args, settings) -> int:
    from recaug.experiments.report import experiment_report, format_report
    from recaug.experiments.store import find_experiment

    report = experiment_report(settings, find_experiment(settings, args.experiment))
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0


def _conclude(args, settings) -> int:
    from recaug.experiments.conclude import conclude
    from recaug.experiments.report import format_report

    conclusion = conclude(settings, args.experiment)
    print(format_report(conclusion.report))
    print(f"\n{conclusion.action}" + (f": version {conclusion.record['version']} is the champion"
                                       if conclusion.record else ""))
    return 0


def register(commands) -> None:
    group = commands.group("experiment", "online experiments: champion vs challenger on live traffic")
    group.add("list", "experiments recorded in the lake (config, status)", _list)
    report = group.add("report", "per-arm CTR and conversion with intervals, and a verdict", _report)
    report.add_argument("--experiment", help="experiment id (default: the newest of deploy.model_name)")
    report.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    conclude = group.add("conclude", "promote the challenger if it wins, stop the experiment if it loses "
                         "(exit 3 while undecided)", _conclude)
    conclude.add_argument("--experiment", help="experiment id (default: the newest of deploy.model_name)")
