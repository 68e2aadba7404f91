"""Failure callback: a readable `reports/<run>/failure.md` for whoever is on call.

It says which task failed and why, which batches went to quarantine (with the rules
they broke), which model keeps serving, and how to resume the run.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

log = logging.getLogger(__name__)


def _rejections_section(lake, run_id: str) -> list[str]:
    """The rules each rejected batch broke, from the validate task's record."""
    from recaug.orchestrate.runs import read_records

    ingest = next((r for r in read_records(lake, run_id) if r.task_id == "validate_ingest"), None)
    if ingest is None or not isinstance(ingest.result, dict) or not ingest.result.get("rejected"):
        return []
    lines: list[str] = []
    for name, report in zip(ingest.result["rejected"], ingest.result.get("reports", [])):
        lines += [
            f"### Batch `{report['batch']}` was moved to `quarantine/{name}/` (bytes unchanged)\n",
            f"Report: `{lake.url('quarantine', name, 'report.json')}`"
            + (f"; Great Expectations data docs: `{lake.url(*report['data_docs'].split('/'))}`" if report.get("data_docs") else ""),
            "",
            "| file | column | rule | rows broken | examples (row) |",
            "|---|---|---|---|---|",
        ]
        for failure in report.get("failures", []):
            rows = failure.get("unexpected_count")
            rows = "" if rows is None else f"{rows} of {failure.get('element_count', '?')}"
            examples = ", ".join(
                f"{value} ({row})" for value, row in zip(failure.get("sample_values", []), failure.get("sample_rows", []) + [""] * 10)
            )
            rule = failure["rule"] + (f" (`{failure['expectation']}`)" if failure.get("expectation") else "")
            detail = f" {failure['details']}" if failure.get("details") else ""
            lines.append(f"| {failure['file']} | {failure.get('column') or ''} | {rule}{detail} | {rows} | {examples} |")
        lines.append("")
    return lines


def _serving_section(settings, failed_task: str) -> list[str]:
    """What serves, from the one source of truth: the last successful deploy record (a model
    the gate approved in this run is not live unless its deploy succeeded)."""
    from recaug.deploy.deploy import list_records, live_record

    live = live_record(settings)
    lines = []
    if failed_task == "deploy":
        attempt = next(iter(reversed(list_records(settings, settings.deploy.model_name))), None)
        if attempt is not None and attempt.outcome != "deployed":
            lines.append(f"The deploy of version {attempt.version} was {attempt.outcome.replace('_', ' ')} "
                         f"at {attempt.stage or 'start'}: {attempt.reason}\n")
    if live is None:
        return lines + ["No model is live: no deploy of this lake has succeeded, so nothing serves."]
    return lines + [
        f"Version {live.version} of `{live.model_name}` stays live (the last successful deploy record; "
        "this run promoted nothing):",
        "```json", json.dumps(live.model_dump(mode="json"), indent=2, default=str), "```",
    ]


def write_failure_summary(context) -> None:
    """on_failure_callback of every nightly task: write the summary, end the run's lake
    lease. Never raises: a broken summary must not hide the original failure."""
    try:
        _write(context)
    except Exception:  # noqa: BLE001 - the callback reports, it must not fail
        log.exception("could not write the failure summary")
    try:
        _end_lake_lease(context)
    except Exception:  # noqa: BLE001 - the lease then expires by lock.lease_timeout_minutes
        log.exception("could not release the lake lock of the failed run")


def _write(context) -> None:
    from recaug import io
    from recaug_airflow.stage_runner import settings_for

    settings = settings_for(context)
    lake = settings.lake
    ti = context["ti"]
    dag_run = context["dag_run"]
    exception = context.get("exception")
    batches = ti.xcom_pull(task_ids="find_batches") or []
    lines = [
        f"# Run `{settings.run_id}` failed at `{ti.task_id}`\n",
        f"- DAG: `{dag_run.dag_id}`, Airflow run: `{dag_run.run_id}`",
        f"- task: `{ti.task_id}` (try {ti.try_number}), failed at {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC",
        f"- batches of this run: {', '.join(f'`{b}`' for b in batches) or 'none'}\n",
        "## Error\n",
        "```",
        f"{type(exception).__name__ if exception else 'unknown error'}: {exception}",
        "```\n",
    ]
    rejections = _rejections_section(lake, settings.run_id)
    if rejections:
        lines += ["## Rejected data\n", *rejections]
    lines += ["## What keeps serving\n", *_serving_section(settings, ti.task_id), ""]
    lines += [
        "## How to resume\n",
        "- Bad data: fix the source and land it as a new batch; the next run picks it up "
        "(quarantined batches are never re-read).",
        f"- Anything else: fix the cause, then clear `{ti.task_id}` (and downstream) in the UI, "
        f"or `airflow tasks clear {dag_run.dag_id} -t '^{ti.task_id}$' -d`. Finished stages are "
        "cached and are not recomputed.",
    ]
    target = lake.url("reports", settings.run_id, "failure.md")
    io.write_text(target, "\n".join(lines) + "\n")
    log.error("run %s failed at %s; summary in %s", settings.run_id, ti.task_id, target)


def _end_lake_lease(context) -> None:
    """A task failed for good: the run is over, so its lease on the lake ends (once its
    other running tasks finish) and the next run or CLI command can write."""
    from recaug.lake_lock import end_run_lease
    from recaug_airflow.stage_runner import lake_claim, settings_for

    settings = settings_for(context)
    if end_run_lease(settings, lake_claim(context, settings.run_id)):
        log.info("run %s released the lake lock", settings.run_id)
