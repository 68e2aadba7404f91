"""Experiment records in the lake: `experiments/<id>.json`, one per experiment.

The record is the durable configuration of an experiment (id, salt, share, the champion and
challenger versions, start and end): the gateway splits traffic by it, and the report
recomputes an event's arm from it when the event carries none. At most one experiment runs
per model; starting another ends the running one first.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from recaug import io
from recaug.errors import RecaugError

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)
Status = Literal["running", "promoted", "stopped"]


class NoExperiment(RecaugError):
    """The experiment asked for does not exist."""


class Experiment(BaseModel):
    experiment_id: str
    model_name: str
    salt: str = Field(description="salt of the user hash (recaug.experiments.split)")
    share: float = Field(description="fraction of users served by the challenger")
    champion_version: int
    challenger_version: int
    challenger_artifact: str
    started_at: str = Field(description="UTC start (ISO 8601); events before it are not part of the experiment")
    status: Status = "running"
    ended_at: str | None = None
    end_reason: str = ""

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.started_at)

    @property
    def end(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.ended_at) if self.ended_at else None


def experiments_folder(settings: "Settings") -> str:
    return settings.lake.url("experiments")


def write_experiment(settings: "Settings", experiment: Experiment) -> None:
    io.write_json(io.join(experiments_folder(settings), f"{experiment.experiment_id}.json"),
                  experiment.model_dump(mode="json"))


def list_experiments(settings: "Settings", model_name: str | None = None) -> list[Experiment]:
    """All experiments, oldest start first."""
    fs, path = io.filesystem(experiments_folder(settings))
    if not fs.exists(path):
        return []
    found = []
    for entry in fs.ls(path, detail=False):
        if entry.endswith(".json"):
            try:
                experiment = Experiment.model_validate_json(fs.cat_file(entry))
            except ValueError as exc:
                raise RecaugError(f"{entry}: not an experiment record ({exc})") from exc
            if model_name is None or experiment.model_name == model_name:
                found.append(experiment)
    return sorted(found, key=lambda e: (e.started_at, e.experiment_id))


def running_experiment(settings: "Settings") -> Experiment | None:
    """The running experiment of settings.deploy.model_name, if any (the newest, should a crash
    have left two)."""
    running = [e for e in list_experiments(settings, settings.deploy.model_name) if e.status == "running"]
    return running[-1] if running else None


def find_experiment(settings: "Settings", experiment_id: str | None) -> Experiment:
    """The experiment with this id, or (without an id) the newest of the model."""
    experiments = list_experiments(settings, None if experiment_id else settings.deploy.model_name)
    if experiment_id:
        chosen = [e for e in experiments if e.experiment_id == experiment_id]
        if not chosen:
            known = ", ".join(e.experiment_id for e in experiments) or "none"
            raise NoExperiment(f"no experiment {experiment_id!r} in {experiments_folder(settings)} (known: {known})")
        return chosen[0]
    if not experiments:
        raise NoExperiment(f"no experiment of {settings.deploy.model_name} in {experiments_folder(settings)}; "
                           "start one with `recaug deploy --as-challenger`")
    return experiments[-1]


def start_experiment(settings: "Settings", champion_version: int, challenger_version: int,
                     challenger_artifact: str) -> Experiment:
    """Record a running experiment with the `experiment.*` settings of now."""
    started = now_utc()
    experiment_id = f"exp-{started.strftime('%Y%m%dT%H%M%S')}-v{challenger_version}"
    config = settings.experiment
    experiment = Experiment(experiment_id=experiment_id, model_name=settings.deploy.model_name,
                            salt=config.salt or experiment_id, share=config.share,
                            champion_version=champion_version, challenger_version=challenger_version,
                            challenger_artifact=str(challenger_artifact), started_at=started.isoformat())
    write_experiment(settings, experiment)
    log.info("experiment %s: version %d (challenger, %.0f%% of users) against version %d (champion)",
             experiment_id, challenger_version, 100 * config.share, champion_version)
    return experiment


def end_experiment(settings: "Settings", experiment: Experiment, status: Status, reason: str) -> Experiment:
    ended = experiment.model_copy(update={"status": status, "ended_at": now_utc().isoformat(), "end_reason": reason})
    write_experiment(settings, ended)
    log.info("experiment %s %s: %s", experiment.experiment_id, status, reason)
    return ended


def end_running(settings: "Settings", reason: str) -> Experiment | None:
    """Stop the running experiment (a new challenger or champion replaces what it compares)."""
    running = running_experiment(settings)
    return end_experiment(settings, running, "stopped", reason) if running else None


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
