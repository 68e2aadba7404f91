"""Data layer throughput and memory: synthetic generation, validation, loading.

Each case runs in its own subprocess, so peak memory (ru_maxrss) belongs to that case
alone. Side by side in one run:
- synthesis written day by day (recaug.data.synth.synthesize) vs the same events
  collected in memory and written at once (what a non-chunked generator does),
  at BENCH_ROWS (default 1,000,000), and BENCH_SCALE (default 3) x the rows over as many
  x the days (same daily volume: memory should stay flat while the total grows);
- validation of the synthesized events with the validation engineer's GX suites
  (recaug.validate.batch.check_batch on one batch of BENCH_ROWS rows), and the full
  ingest of the 30 daily batches (validate + raw copy + curated merge) when BENCH_INGEST=1;
- loading MovieLens latest-small from ../shared (if present) into landing batches.

Run: .venv/bin/python bench/bench_data.py   (prints a Markdown table, writes bench/results/data.json)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "data.json"
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
SCALE = int(os.environ.get("BENCH_SCALE", "3"))
INGEST = os.environ.get("BENCH_INGEST", "0") == "1"
ML_LATEST_SMALL = ROOT.parent / "shared" / "datasets" / "ml-latest-small"


def synth_settings(lake: Path, rows: int, days: int = 30):
    from recaug.settings import load_settings

    # ~30 events per user and 50 per item at the base size, over 30 days.
    return load_settings({
        "lake_root": str(lake),
        "data": {"synth": {"n_interactions": rows, "n_users": max(ROWS // 30, 100), "n_items": max(ROWS // 50, 100),
                           "n_days": days, "n_topics": 20}},
    })


# -- cases (run inside a child process) -------------------------------------------------
def case_import_only(lake: Path, rows: int) -> dict:
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import recaug.data.landing  # noqa: F401
    import recaug.data.synth  # noqa: F401
    return {"rows": 0}


def case_synth_daily(lake: Path, rows: int) -> dict:
    from recaug.data.synth import synthesize

    summary = synthesize(synth_settings(lake, rows), lake / "landing")
    return {"rows": summary.interactions, "batches": summary.days}


def case_synth_daily_longer(lake: Path, rows: int) -> dict:
    """BENCH_SCALE x the events over BENCH_SCALE x the days: same daily volume, same catalogue."""
    from recaug.data.synth import synthesize

    summary = synthesize(synth_settings(lake, rows * SCALE, days=30 * SCALE), lake / "landing")
    return {"rows": summary.interactions, "batches": summary.days}


def case_synth_all_at_once(lake: Path, rows: int) -> dict:
    import pandas as pd

    from recaug.data.synth import generate_days
    from recaug.io import write_parquet

    days = list(generate_days(synth_settings(lake, rows).data.synth))
    out = lake / "landing-all"
    for table in ("interactions", "items", "users"):
        write_parquet(pd.concat([getattr(d, table) for d in days], ignore_index=True), out / f"{table}.parquet")
    return {"rows": sum(len(d.interactions) for d in days), "batches": 1}


def case_validate(lake: Path, rows: int) -> dict:
    """The GX suites on one landing batch holding every synthesized event (written by
    synth-all-at-once), so the figure is validation work, not per-batch set-up."""
    from recaug.validate.batch import check_batch

    validated = check_batch(synth_settings(lake, rows), lake / "landing-all")
    total = sum(f.rows or 0 for f in validated.report.files if f.table == "interactions")
    return {"rows": total, "batches": 1, "rejected": [] if validated.report.accepted else
            [f"{f.table}: {f.rule}" for f in validated.report.failures]}


def case_ingest(lake: Path, rows: int) -> dict:
    from recaug.validate.ingest import ingest

    result = ingest(synth_settings(lake, rows))
    return {"rows": result.curated_rows.get("interactions", 0), "batches": len(result.accepted),
            "rejected": result.rejected}


def case_load_ml_latest_small(lake: Path, rows: int) -> dict:
    from recaug.data.landing import load_to_landing

    summary = load_to_landing("ml-latest", ML_LATEST_SMALL, lake / "landing-ml", batch_by="month")
    return {"rows": summary.interactions, "batches": len(summary.batches)}


CASES = {name.removeprefix("case_").replace("_", "-"): fn for name, fn in globals().items() if name.startswith("case_")}


def child(case: str, lake: Path, rows: int) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    start = time.perf_counter()
    out = CASES[case](lake, rows)
    out["seconds"] = time.perf_counter() - start
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


# -- parent: run the cases side by side ---------------------------------------------------
def run(case: str, lake: Path, rows: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--case", case, "--lake", str(lake), "--rows", str(rows)],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if proc.returncode != 0:
        raise SystemExit(f"case {case} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["case"] = case
    result["rows_per_s"] = result["rows"] / result["seconds"] if result["rows"] else None
    print(f"  {case}: {result['seconds']:.1f} s, peak RSS {result['peak_rss_mb']:.0f} MB", file=sys.stderr)
    return result


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-data-"))
    results: list[dict] = []
    try:
        base = run("import-only", work / "base", 0)
        daily = run("synth-daily", work / "lake", ROWS)
        at_once = run("synth-all-at-once", work / "lake", ROWS)
        big = run("synth-daily-longer", work / "big", ROWS) if SCALE > 1 else None
        validate = run("validate", work / "lake", ROWS) if (ROOT / "recaug" / "validate" / "batch.py").exists() else None
        ingest = run("ingest", work / "lake", ROWS) if INGEST else None
        ml = run("load-ml-latest-small", work / "ml", 0) if ML_LATEST_SMALL.is_dir() else None
        results = [r for r in (base, daily, at_once, big, validate, ingest, ml) if r]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    labels = {
        "import-only": "interpreter + pandas/pyarrow imports (baseline)",
        "synth-daily": "synth, written per day (recaug)",
        "synth-daily-longer": f"synth, written per day, {SCALE}x the days (recaug)",
        "synth-all-at-once": "synth, all days in memory then written",
        "validate": "validate one batch (GX suites)",
        "ingest": "ingest daily batches: validate + raw + curated merge",
        "load-ml-latest-small": "load ml-latest-small → monthly batches",
    }
    print(f"\n### Data layer at {ROWS:,} interactions ({os.cpu_count()} CPUs)\n")
    print("| case | rows | batches | seconds | rows/s | peak RSS MB | RSS above baseline MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        rate = f"{r['rows_per_s']:,.0f}" if r["rows_per_s"] else "-"
        print(f"| {labels[r['case']]} | {r['rows']:,} | {r.get('batches', '-')} | {r['seconds']:.1f} | {rate} | "
              f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] - base['peak_rss_mb']:.0f} |")
    ratios = {
        "memory_all_at_once_over_daily": (at_once["peak_rss_mb"] - base["peak_rss_mb"]) / max(daily["peak_rss_mb"] - base["peak_rss_mb"], 1),
        "speed_daily_over_all_at_once": daily["rows_per_s"] / at_once["rows_per_s"],
    }
    if big:
        ratios[f"memory_daily_{SCALE}x_rows_and_days_over_1x"] = (big["peak_rss_mb"] - base["peak_rss_mb"]) / max(daily["peak_rss_mb"] - base["peak_rss_mb"], 1)
    if validate:
        ratios["synth_rows_per_s_over_validate"] = daily["rows_per_s"] / validate["rows_per_s"]
    print()
    for key, value in ratios.items():
        print(f"- {key.replace('_', ' ')}: {value:.2f}x")
    if not validate:
        print("- validation not measured: recaug/validate/batch.py is not there yet")
    if validate and validate.get("rejected"):
        print(f"- validation rejected the synthesized batch: {validate['rejected'][:5]}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": ROWS, "scale": SCALE, "cpus": os.cpu_count(), "cases": results, "ratios": ratios}, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--lake", type=Path)
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    if args.case:
        child(args.case, args.lake, args.rows)
    else:
        main()
