"""Experiment records in the lake: start, the running one, end, lookup errors, and the commands."""

from __future__ import annotations

import json

import pytest

from recaug.cli import main
from recaug.experiments.store import (NoExperiment, end_running, find_experiment, list_experiments,
                                      running_experiment, start_experiment)


def test_an_experiment_records_its_split_at_start_and_ends_once(settings):
    settings.experiment.share = 0.2
    experiment = start_experiment(settings, champion_version=3, challenger_version=4, challenger_artifact="/m/r4")
    settings.experiment.share = 0.9  # later settings never re-split a running experiment
    assert running_experiment(settings) == experiment
    assert (experiment.share, experiment.salt, experiment.status) == (0.2, experiment.experiment_id, "running")
    assert experiment.experiment_id.endswith("-v4")

    ended = end_running(settings, "champion replaced by version 5")
    assert (ended.status, ended.end_reason) == ("stopped", "champion replaced by version 5") and ended.ended_at
    assert running_experiment(settings) is None and end_running(settings, "again") is None
    assert list_experiments(settings) == [ended] and find_experiment(settings, None) == ended


def test_a_configured_salt_is_kept_and_unknown_ids_are_named(settings):
    settings.experiment.salt = "fixed-salt"
    experiment = start_experiment(settings, 1, 2, "/m/r2")
    assert experiment.salt == "fixed-salt"
    with pytest.raises(NoExperiment, match=rf"no experiment 'exp-x' .*known: {experiment.experiment_id}"):
        find_experiment(settings, "exp-x")


def test_commands_list_and_refuse_a_report_without_experiments(settings, capsys):
    assert main(["experiment", "report", "--lake", settings.lake_root]) == 1
    assert "start one with `recaug deploy --as-challenger`" in capsys.readouterr().err
    start_experiment(settings, 1, 2, "/m/r2")
    assert main(["experiment", "list", "--lake", settings.lake_root]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["champion_version"], e["challenger_version"], e["status"]) for e in listed] == [(1, 2, "running")]
