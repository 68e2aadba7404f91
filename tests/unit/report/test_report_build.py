"""The run report from a lake holding what the stages write (per docs/STAGES.md)."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone

from recaug import io
from recaug.orchestrate.runs import RunInfo, TaskRecord, write_record, write_run_info
from recaug.report.build import build_report


def _slices(hr10: float, ndcg10: float, cases: int = 40) -> dict:
    overall = {"cases": cases, "hr@5": hr10 / 2, "hr@10": hr10, "ndcg@5": ndcg10 / 2, "ndcg@10": ndcg10}
    return {"overall": overall, "cold_items": {**overall, "cases": 7}, "cold_users": {**overall, "cases": 3}}


def _lake_after_a_run(settings, run_id: str) -> str:
    lake = settings.lake
    artifact = lake.url("models", run_id)
    io.write_json(io.join(artifact, "metrics.json"), {
        "split": "leave-one-out", "valid": _slices(0.2, 0.1), "test": _slices(0.25, 0.125),
        "baselines": {"most_pop": {"test": _slices(0.05, 0.02)}},
        "history": [{"epoch": 1, "loss": 5.0}, {"epoch": 2, "loss": 4.0}],
        "cold_boost": {"cold_count": 5, "bias": 0.5, "similarity": 3.0, "valid_ndcg@10": 0.095,
                       "valid_cold_hr@10": 0.09, "reference_cold_hr@10": 0.08,
                       "candidates": [{"bias": 0.0, "similarity": 0.0, "valid_ndcg@10": 0.1, "valid_cold_hr@10": 0.01}]},
    })
    io.write_json(io.join(artifact, "params.json"), {"model_type": "fusion_sasrec", "model": {"hidden_size": 32}})
    io.write_json(io.join(artifact, "gate.json"), {
        "deploy": True, "reason": "ndcg@10 improved", "metric": "ndcg@10", "tolerance": 0.0, "challenger_run": run_id,
        "challenger_value": 0.125, "champion_run": "run-6", "champion_value": 0.1, "champion_reevaluated": True,
        "champion_version": 2, "champion_source": "deploy record: recaug_seq version 2 is live", "artifact_dir": artifact,
    })
    io.write_json(lake.url("state", "batches.json"), {"batches": {
        "2026-01-01": {"status": "accepted", "location": "raw/2026-01-01", "failures": 0, "processed_at": "2026-01-02"},
        "2026-01-02": {"status": "rejected", "location": "quarantine/2026-01-02", "failures": 2, "processed_at": "2026-01-03"},
    }})
    io.write_json(lake.url("augment", "stats.json"), {"items_enriched": 12, "backend": "template"})
    t0 = datetime(2026, 1, 2, 2, 0, tzinfo=timezone.utc)
    write_run_info(lake, RunInfo(run_id=run_id, dag_id="recaug_nightly", orchestrator_run_id="manual__x", started_at=t0))
    steps = [("validate_ingest", 1, 2.0, {"accepted": ["2026-01-01"], "rejected": [], "skipped": [], "curated_rows": {"interactions": 100}}),
             ("train", 5, 10.0, {"artifact_dir": artifact}), ("deploy", 17, 1.0, {"version": 3, "model_name": "recaug_seq"}),
             ("report", 20, 0.5, None)]
    for task, start, seconds, result in steps:
        write_record(lake, run_id, TaskRecord(task_id=task, started_at=t0 + timedelta(seconds=start),
                                              ended_at=t0 + timedelta(seconds=start + seconds), compute_seconds=seconds, result=result))
    return artifact


def test_report_shows_every_section_with_inline_plots(settings):
    _lake_after_a_run(settings, "run-7")
    result = build_report(settings, "run-7")
    html = io.read_text(result.html)
    markdown = io.read_text(result.markdown)

    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) == 6  # three metric slices, training curve, gate, task times
    assert all(base64.b64decode(img).startswith(b"\x89PNG") for img in images)
    assert ("Cold-item boost** (items under 5 fitted events, chosen on validation cases): bias 0.5, text-similarity "
            "weight 3.0; validation NDCG@10 0.1000 -> 0.0950, cold-item HR@10 0.0100 -> 0.0900 (aim 0.0800).") in markdown
    assert "Gate decision: propose for deploy." in markdown
    assert "| live model v2 (re-evaluated on today's data) | run-6 | 0.1000 |" in markdown
    assert "No model is live: no deploy of this lake has succeeded yet." in markdown  # no deploy record in this lake
    for text in ("Data validation", "2026-01-02", "rejected", "items_enriched", "most_pop", "live model",
                 "ndcg@10 improved", "recaug_seq", "fusion_sasrec"):
        assert text in html, text
    # wall = run start -> report start = 20 s; compute = 13 s; overhead 7 s = 35 %
    assert "Wall time 20.0 s; task compute 13.0 s; orchestration overhead 7.0 s = 35%" in markdown
    assert result.timing["overhead_ratio"] == 0.35
    metrics = json.loads(io.read_text(result.metrics))
    assert metrics["model"]["overall"]["ndcg@10"] == 0.125
    assert metrics["most_pop"]["overall"]["hr@10"] == 0.05
    ranking = io.read_text(settings.lake.url("reports", "run-7", "plots", "ranking.csv")).splitlines()
    assert ranking == ["k,hr,ndcg", "5,0.125,0.0625", "10,0.25,0.125"]
    assert io.exists(settings.lake.url("reports", "run-7", "plots", "task_times.png"))


def test_report_of_a_cli_run_without_model_or_timings(settings):
    result = build_report(settings, "cli-run")
    markdown = io.read_text(result.markdown)
    assert "No model was trained in this run." in markdown
    assert "No task timings" in markdown
    assert result.timing is None


def test_report_is_rebuilt_in_place(settings):
    _lake_after_a_run(settings, "run-8")
    first = io.read_text(build_report(settings, "run-8").markdown)
    second = io.read_text(build_report(settings, "run-8").markdown)
    strip = lambda text: re.sub(r"Generated .* UTC", "", text)  # noqa: E731
    assert strip(first) == strip(second)
