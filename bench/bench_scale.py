"""Pipeline stages at growing data sizes: wall time, peak memory and the growth exponent.

Each size gets a fresh lake: the synthetic marketplace (users and items grow with the
interactions, 30 daily batches), then every stage as its own `recaug` process, exactly as
the CLI, DVC and Airflow tasks run them. Peak memory is the process tree's maximum
resident set (wait4's ru_maxrss). The growth exponent of a stage is the slope of
log(time) over log(interactions) between the smallest and the largest size: 1.0 is
linear. Training runs one epoch of at most 2,000 steps (`train.max_steps_per_epoch`: a full epoch at 10M
is hours on 2 cores); test evaluation ranks the whole catalogue for every user (validation for
20,000 users at most: `train.max_valid_cases`), so "model" grows with users x items by design; the target (every other stage at most
linear, peak memory under 8 GiB) is checked for the rest.

    .venv/bin/python bench/bench_scale.py [--sizes 100000,1000000,10000000] [--keep DIR]
        [--model-up-to 1000000]

`--until STAGE` stops after that stage; `--from STAGE` starts there on the lake a `--keep` run left
(e.g. the model stage after `--until "features apply"`, with `--merge` of that run's report). `--model-up-to N` runs the model stage only at sizes <= N (its full-catalogue evaluation
of every user is the one part meant to grow faster than linear); its exponent then spans
the sizes it ran at. `--merge FILES` adds the sizes of earlier reports (sizes measured
in separate runs end up in one table). The report is written after every stage, so a
stopped run keeps what it measured.

Prints a Markdown table and writes bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
MEMORY_LIMIT_GIB = 8.0
USERS_PER_INTERACTION = 1 / 50   # ~50 events per user, as in the default marketplace
ITEMS_PER_INTERACTION = 1 / 200  # a catalogue that grows slower than the traffic
DAYS = 30
MODEL_STEPS = 2000  # the epoch's step budget: binds above ~4M interactions (~100 steps at 100k, 480 at 1M)

STAGES: list[tuple[str, list[str]]] = [
    ("synth", ["data", "synth"]),
    ("ingest", ["ingest"]),
    ("augment (budget 0)", ["augment", "--budget", "0"]),
    ("embed", ["embed"]),
    ("features build", ["features", "build"]),
    ("features apply", ["features", "apply"]),
    ("features materialize", ["features", "materialize"]),
    ("model (1 epoch, evaluate, export)", ["model", "--set", "train.epochs=1",
                                           "--set", f"train.max_steps_per_epoch={MODEL_STEPS}"]),
]
LINEAR_EXEMPT = {"model (1 epoch, evaluate, export)"}


def run_stage(args: list[str], lake: Path, log_path: Path) -> tuple[float, float]:
    """(seconds, peak GiB) of one `recaug` command on `lake`; raises on failure with its log tail."""
    command = [str(Path(sys.executable).parent / "recaug"), *args, "--lake", str(lake), "--run-id", "scale"]
    started = time.perf_counter()
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        raise SystemExit(f"`recaug {' '.join(args)}` failed with exit {code}:\n" + "\n".join(tail))
    return seconds, usage.ru_maxrss / 2**20  # KiB -> GiB


def run_size(interactions: int, work: Path, measured: dict, save, model_up_to: int | None = None,
             last_stage: str | None = None, first_stage: str | None = None) -> None:
    """Run every stage (from `first_stage` on the lake an earlier run kept, up to `last_stage`) at one size into
    `measured`, calling `save` after each (a stopped run keeps its rows)."""
    lake = work / f"lake-{interactions}"
    names = [name for name, _ in STAGES]
    if first_stage is None:
        shutil.rmtree(lake, ignore_errors=True)
    elif not lake.is_dir():
        raise SystemExit(f"--from {first_stage!r} needs the lake an earlier run kept in {lake}")
    users = max(100, int(interactions * USERS_PER_INTERACTION))
    items = max(200, int(interactions * ITEMS_PER_INTERACTION))
    log_path = work / f"stages-{interactions}.log"
    for name, args in STAGES:
        if first_stage is not None and names.index(name) < names.index(first_stage):
            continue
        if name in LINEAR_EXEMPT and model_up_to is not None and interactions > model_up_to:
            print(f"  {interactions:>10,} {name:<36} not run (--model-up-to {model_up_to:,})", flush=True)
            continue
        if name == "synth":
            args = [*args, "--interactions", str(interactions), "--users", str(users), "--items", str(items),
                    "--days", str(DAYS)]
        seconds, peak = run_stage(args, lake, log_path)
        measured[name] = {"seconds": round(seconds, 2), "peak_gib": round(peak, 3)}
        save()
        print(f"  {interactions:>10,} {name:<36} {seconds:8.1f} s  peak {peak:6.2f} GiB", flush=True)
        if name == last_stage:
            return


def exponent(sizes: list[int], seconds: list[float | None]) -> float | None:
    """Slope of log(seconds) over log(size) between the smallest and largest size the stage ran at."""
    ran = [(n, s) for n, s in zip(sizes, seconds) if s is not None]
    sizes, seconds = [n for n, _ in ran], [s for _, s in ran]
    if len(sizes) < 2 or min(seconds) <= 0:
        return None
    return math.log(seconds[-1] / seconds[0]) / math.log(sizes[-1] / sizes[0])


def table(report: dict) -> str:
    sizes = report["sizes"]
    lines = ["| stage | " + " | ".join(f"{s:,} s / GiB" for s in sizes) + " | growth exponent |",
             "|---|" + "---|" * (len(sizes) + 1)]
    for stage in report["stages"]:
        cells = [f"{report['runs'][str(s)][stage]['seconds']:.1f} / {report['runs'][str(s)][stage]['peak_gib']:.2f}"
                 if stage in report["runs"][str(s)] else "not run" for s in sizes]
        slope = report["exponents"][stage]
        lines.append(f"| {stage} | " + " | ".join(cells) + f" | {'' if slope is None else f'{slope:.2f}'} |")
    return "\n".join(lines)


def build_report(runs: dict[str, dict]) -> dict:
    """The table's data, exponents and targets over every size in `runs` (stages not run are left out)."""
    sizes = sorted(int(n) for n in runs)
    stages = [name for name, _ in STAGES]
    exponents = {s: exponent(sizes, [runs[str(n)][s]["seconds"] if s in runs[str(n)] else None for n in sizes])
                 for s in stages}
    peak = max((stage["peak_gib"] for run in runs.values() for stage in run.values()), default=0.0)
    return {"sizes": sizes, "stages": stages, "runs": runs, "exponents": exponents, "peak_gib": peak,
            "linear_target_met": all(e is None or e <= 1.1 for s, e in exponents.items() if s not in LINEAR_EXEMPT),
            "memory_target_met": peak < MEMORY_LIMIT_GIB, "cpus": os.cpu_count(),
            "days": DAYS, "users_per_interaction": USERS_PER_INTERACTION,
            "items_per_interaction": ITEMS_PER_INTERACTION}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000,10000000", help="interactions per run, comma-separated")
    parser.add_argument("--keep", default=None, help="work folder to keep (default: a temporary one, removed)")
    parser.add_argument("--out", default=str(RESULTS / "scale.json"))
    parser.add_argument("--model-up-to", type=int, default=None, help="run the model stage only at sizes <= this")
    parser.add_argument("--until", default=None, choices=[name for name, _ in STAGES],
                        help="stop after this stage (e.g. remeasure ingest alone)")
    parser.add_argument("--from", dest="first_stage", default=None, choices=[name for name, _ in STAGES],
                        help="start at this stage on the lake kept by an earlier --keep run (its rows: --merge)")
    parser.add_argument("--merge", default=None, help="earlier reports (JSON, comma-separated) whose sizes join this table; "
                                                      "with --sizes '' only prints their merged table")
    args = parser.parse_args()
    if args.first_stage and not args.keep:
        parser.error("--from needs --keep DIR: the folder whose lake an earlier run kept")
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="recaug-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    earlier = {n: r for f in (args.merge.split(",") if args.merge else []) for n, r in json.loads(Path(f).read_text())["runs"].items()}
    runs = {n: r for n, r in earlier.items() if int(n) not in sizes or args.first_stage}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        out.write_text(json.dumps(build_report({n: r for n, r in runs.items() if r}), indent=2))

    try:
        for size in sizes:
            print(f"== {size:,} interactions", flush=True)
            runs[str(size)] = dict(runs.get(str(size), {})) if args.first_stage else {}
            run_size(size, work, runs[str(size)], save, args.model_up_to, args.until, args.first_stage)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report = build_report(runs)
    out.write_text(json.dumps(report, indent=2))
    peak = report["peak_gib"]
    print("\n" + table(report))
    print(f"\npeak memory {peak:.2f} GiB (limit {MEMORY_LIMIT_GIB:.0f}); every stage but the model at most linear "
          f"(exponent <= 1.1): {report['linear_target_met']}")


if __name__ == "__main__":
    main()
