"""`recaug experiment conclude`: the second stage of the champion gate.

The offline gate lets a model in as a challenger; live traffic decides. When the report says
the challenger wins on the configured metric, its version (already loaded and smoke-tested
as the challenger) is checked again in Triton and promoted by a champion deploy record, the
same record a normal deploy writes; when the champion wins, the experiment stops and
reconcile removes the challenger's version. Without a decisive verdict nothing changes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from recaug.errors import RecaugError
from recaug.experiments.report import ExperimentReport, experiment_report
from recaug.experiments.store import end_experiment, find_experiment

if TYPE_CHECKING:
    from recaug.deploy.deploy import DeployRecord
    from recaug.settings import Settings

log = logging.getLogger(__name__)


class Undecided(RecaugError):
    """The report has no winner yet: the experiment keeps running."""

    exit_code = 3


class Conclusion(BaseModel):
    action: Literal["promoted", "champion_kept"]
    report: ExperimentReport
    record: dict | None = None


def conclude(settings: "Settings", experiment_id: str | None = None) -> Conclusion:
    from recaug.deploy.deploy import deploy_lock

    with deploy_lock(settings):
        experiment = find_experiment(settings, experiment_id)
        if experiment.status != "running":
            raise RecaugError(f"experiment {experiment.experiment_id} already ended ({experiment.status}: "
                              f"{experiment.end_reason})")
        report = experiment_report(settings, experiment)
        if report.verdict == "challenger_wins":
            record = _promote(settings, report)
            end_experiment(settings, experiment, "promoted", f"version {record.version} promoted: {report.verdict_text}")
            return Conclusion(action="promoted", report=report, record=record.model_dump(mode="json"))
        if report.verdict == "champion_wins":
            end_experiment(settings, experiment, "stopped", f"champion kept: {report.verdict_text}")
            _remove_challenger(settings)
            return Conclusion(action="champion_kept", report=report)
        raise Undecided(f"experiment {experiment.experiment_id}: {report.verdict_text}")


def _promote(settings: "Settings", report: ExperimentReport) -> "DeployRecord":
    """A champion record for the challenger's version, after it answers the export's reference
    request again exactly as recorded."""
    from recaug.deploy.client import triton_client
    from recaug.deploy.deploy import DeployFailed, challenger_record, live_record, now_iso, smoke_test, write_record
    from recaug.deploy.target import target_from_settings
    from recaug.export.onnx import load_export

    experiment = report.experiment
    live, challenger = live_record(settings), challenger_record(settings)
    if live is None or live.version != experiment.champion_version:
        raise DeployFailed(f"experiment {experiment.experiment_id} compared against version "
                           f"{experiment.champion_version}, but {live.version if live else 'no version'} is live now; "
                           "not promoting")
    if challenger is None:
        raise DeployFailed(f"experiment {experiment.experiment_id}: challenger version {experiment.challenger_version} "
                           "has no deployed record; not promoting")
    target = target_from_settings(settings)
    with triton_client(target.http_url) as client:
        smoke = smoke_test(client, challenger.model_name, challenger.version, load_export(challenger.artifact_dir),
                           settings.deploy.smoke_tolerance)
    if not smoke.passed:
        raise DeployFailed(f"challenger version {challenger.version} failed its smoke test before promotion: "
                           f"{smoke.detail}; version {live.version} stays live")
    record = challenger.model_copy(update={
        "role": "champion", "deployed_at": now_iso(), "previous_version": live.version, "smoke": smoke,
        "reason": f"promoted by experiment {experiment.experiment_id}: {report.verdict_text}"})
    write_record(settings, record)
    log.info("experiment %s: version %d promoted to champion", experiment.experiment_id, record.version)
    return record


def _remove_challenger(settings: "Settings") -> None:
    """Let reconcile unload the stopped challenger now (else the next deploy or start does)."""
    from recaug.deploy.deploy import reconcile_quietly
    from recaug.deploy.target import target_from_settings

    reconcile_quietly(settings, target_from_settings(settings))
