"""failure.md says what serves from the deploy records, not from what a gate approved."""

from __future__ import annotations

from pathlib import Path

from recaug.deploy.deploy import DeployRecord, write_record

ROOT = Path(__file__).resolve().parents[2]


def _record(settings, version: int, outcome: str, stage: str = "", reason: str = "") -> None:
    write_record(settings, DeployRecord(
        model_name=settings.deploy.model_name, version=version, deployed_at=f"2026-01-0{version}T02:00:00+00:00",
        model_sha256="0" * 64, artifact_dir=f"/lake/models/run-{version}", target="local:127.0.0.1:1",
        model_format="python", outcome=outcome, stage=stage, reason=reason))


def test_serving_section_names_the_live_version_and_the_failed_attempt(settings, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "plugins"))
    from recaug_airflow.failure_summary import _serving_section

    assert _serving_section(settings, "deploy") == [
        "No model is live: no deploy of this lake has succeeded, so nothing serves."]
    _record(settings, 1, "deployed")
    _record(settings, 2, "rejected", "promote", "Triton at 127.0.0.1:1 stopped answering (ConnectionRefusedError)")
    text = "\n".join(_serving_section(settings, "deploy"))
    assert "The deploy of version 2 was rejected at promote: Triton at 127.0.0.1:1 stopped answering" in text
    assert "Version 1 of `recaug_seq` stays live" in text and '"artifact_dir": "/lake/models/run-1"' in text
    assert "run-2" not in text.split("stays live")[1]  # the rejected model is not reported as serving
    assert "The deploy of" not in "\n".join(_serving_section(settings, "train"))
