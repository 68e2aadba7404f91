"""Reconciling the model repository with the deploy records (the part that needs no server;
with a real tritonserver: tests/faults/test_deploy_faults.py)."""

from __future__ import annotations

import logging

from recaug.deploy.deploy import DeployRecord, list_records, write_record
from recaug.deploy.reconcile import reconcile_repository


def _record(settings, version: int, outcome: str, artifact_dir: str) -> None:
    write_record(settings, DeployRecord(
        model_name="recaug_seq", version=version, deployed_at=f"2026-01-0{version}T02:00:00+00:00",
        model_sha256="0" * 64, artifact_dir=artifact_dir, target="local:127.0.0.1:1", model_format="python",
        outcome=outcome, stage="promote" if outcome == "in_progress" else ""))


def _version(repository, name: str, version: int) -> None:
    folder = repository / name / str(version)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"onnx bytes of version %d" % version)


def test_versions_without_a_successful_deploy_go_and_interrupted_records_are_closed(settings, tmp_path, caplog):
    repository = tmp_path / "models"
    for version in (1, 2, 3):
        _version(repository, "recaug_seq", version)
    _version(repository, "recaug_seq__candidate", 3)
    (repository / "recaug_seq" / "config.pbtxt").write_text("name: 'recaug_seq'")
    _record(settings, 1, "deployed", str(tmp_path / "gone"))  # its artifact was deleted by hand
    _record(settings, 2, "rejected", str(tmp_path / "run-2"))
    _record(settings, 3, "in_progress", str(tmp_path / "run-3"))

    with caplog.at_level(logging.WARNING):
        result = reconcile_repository(settings, repository)
    assert (result.live_version, result.removed_versions, result.removed_candidate) == (1, [2, 3], True)
    assert result.closed_records == [3] and not result.restored_live
    assert sorted(p.name for p in (repository / "recaug_seq").iterdir()) == ["1", "config.pbtxt"]
    assert not (repository / "recaug_seq__candidate").exists()
    assert (repository / "recaug_seq" / "1" / "model.onnx").read_bytes() == b"onnx bytes of version 1"
    closed = list_records(settings, "recaug_seq")[-1]
    assert (closed.version, closed.outcome, closed.stage) == (3, "rejected", "interrupted")
    assert "retracted by reconcile" in closed.reason
    assert "artifact" in caplog.text and "cannot restore it" in caplog.text
    assert reconcile_repository(settings, repository).closed_records == []  # a second pass finds nothing


def test_a_lake_where_no_deploy_succeeded_serves_nothing(settings, tmp_path):
    repository = tmp_path / "models"
    _version(repository, "recaug_seq", 1)
    _record(settings, 1, "in_progress", str(tmp_path / "run-1"))
    result = reconcile_repository(settings, repository)
    assert result.live_version is None and result.removed_versions == [1]
    assert not (repository / "recaug_seq").exists()


def test_a_challenger_version_stays_only_while_its_experiment_runs(settings, tmp_path):
    from recaug.deploy.deploy import kept_versions, live_record
    from recaug.experiments.store import end_running, start_experiment

    repository = tmp_path / "models"
    for version in (1, 2):
        _version(repository, "recaug_seq", version)
    _record(settings, 1, "deployed", str(tmp_path / "run-1"))
    write_record(settings, DeployRecord(
        model_name="recaug_seq", version=2, deployed_at="2026-01-02T02:00:00+00:00", model_sha256="1" * 64,
        artifact_dir=str(tmp_path / "run-2"), target="remote:127.0.0.1:1", model_format="python",
        outcome="deployed", role="challenger"))
    start_experiment(settings, 1, 2, str(tmp_path / "run-2"))

    assert live_record(settings).version == 1 and kept_versions(settings) == {1, 2}
    assert reconcile_repository(settings, repository).removed_versions == []
    end_running(settings, "champion kept")
    assert reconcile_repository(settings, repository).removed_versions == [2]
    assert sorted(p.name for p in (repository / "recaug_seq").iterdir() if p.is_dir()) == ["1"]
