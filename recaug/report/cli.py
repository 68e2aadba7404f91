"""`recaug report`: the run report (HTML + Markdown) of one pipeline run."""

from __future__ import annotations


def register(commands) -> None:
    commands.add("report", "write reports/<run>/report.html and report.md for a run (--run-id)", _report)


def _report(args, settings) -> int:
    from recaug.report.build import build_report

    result = build_report(settings, settings.run_id)
    print(f"report: {result.html}\n        {result.markdown}")
    return 0
