"""A lake after one orchestrated run, holding what the stages write (per docs/STAGES.md):
read by the report's unit tests and its browser test."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from recaug import io
from recaug.orchestrate.runs import RunInfo, TaskRecord, write_record, write_run_info


def _slices(hr10: float, ndcg10: float, cases: int = 40) -> dict:
    overall = {"cases": cases, "hr@5": hr10 / 2, "hr@10": hr10, "ndcg@5": ndcg10 / 2, "ndcg@10": ndcg10}
    return {"overall": overall, "cold_items": {**overall, "cases": 7}, "cold_users": {**overall, "cases": 3}}


def lake_after_a_run(settings, run_id: str) -> str:
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
             ("train", 5, 10.0, {"artifact_dir": artifact}), ("deploy", 17, 1.0, {"version": 3, "model_name": "recaug_seq", "outcome": "deployed"}),
             ("report", 20, 0.5, None)]
    for task, start, seconds, result in steps:
        write_record(lake, run_id, TaskRecord(task_id=task, started_at=t0 + timedelta(seconds=start),
                                              ended_at=t0 + timedelta(seconds=start + seconds), compute_seconds=seconds, result=result))
    return artifact
