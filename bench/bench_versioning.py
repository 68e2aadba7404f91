"""DVC as a subprocess (`python -m dvc`, what recaug uses) vs the in-process Python API.

Same lake, same targets: init, add + push of N batches, a no-op re-add, and a checkout.
The API is faster (no interpreter start, no repeated imports) but resolves relative
targets against the process cwd and shares DVC's global state with the caller; the
subprocess keeps each call isolated, which is why recaug.data.versioning uses it.
Prints a Markdown table and writes bench/results/versioning.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_BATCHES = int(os.environ.get("BENCH_BATCHES", "10"))
ROWS = int(os.environ.get("BENCH_ROWS", "20000"))


def make_lake(root: Path) -> list[str]:
    rng = np.random.default_rng(0)
    targets = []
    for b in range(N_BATCHES):
        d = root / "raw" / f"2026-01-{b + 1:02d}"
        d.mkdir(parents=True)
        pd.DataFrame({"user_id": rng.integers(0, 1000, ROWS).astype(str), "item_id": rng.integers(0, 5000, ROWS).astype(str),
                      "timestamp": rng.integers(1_700_000_000, 1_760_000_000, ROWS)}).to_parquet(d / "interactions.parquet")
        targets.append(f"raw/{d.name}")
    return targets


def run_cli(root: Path, targets: list[str]) -> dict[str, float]:
    def dvc(*args):
        subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, check=True, capture_output=True,
                       env={**os.environ, "DVC_NO_ANALYTICS": "1"})

    t = {}
    s = time.perf_counter(); dvc("init", "--no-scm", "-q"); dvc("remote", "add", "-d", "r", str(root.parent / "remote-cli")); t["init"] = time.perf_counter() - s
    s = time.perf_counter(); dvc("add", "-q", *targets); dvc("push", "-q", *[f"{x}.dvc" for x in targets]); t["add+push"] = time.perf_counter() - s
    s = time.perf_counter(); dvc("add", "-q", *targets); dvc("push", "-q", *[f"{x}.dvc" for x in targets]); t["no-op add+push"] = time.perf_counter() - s
    shutil.rmtree(root / targets[0])
    s = time.perf_counter(); dvc("checkout", "-q", "--force", f"{targets[0]}.dvc"); t["checkout 1 batch"] = time.perf_counter() - s
    return t


def run_api(root: Path, targets: list[str]) -> dict[str, float]:
    t = {}
    s = time.perf_counter()
    from dvc.repo import Repo

    repo = Repo.init(str(root), no_scm=True)
    with repo.config.edit() as conf:
        conf["remote"]["r"] = {"url": str(root.parent / "remote-api")}
        conf["core"]["remote"] = "r"
    t["init"] = time.perf_counter() - s
    # The API resolves relative paths against the process cwd, not the repo: pass absolute ones.
    targets = [str(root / x) for x in targets]
    s = time.perf_counter(); repo.add(targets); repo.push([f"{x}.dvc" for x in targets]); t["add+push"] = time.perf_counter() - s
    s = time.perf_counter(); repo.add(targets); repo.push([f"{x}.dvc" for x in targets]); t["no-op add+push"] = time.perf_counter() - s
    shutil.rmtree(root / targets[0])
    s = time.perf_counter(); repo.checkout([f"{targets[0]}.dvc"], force=True); t["checkout 1 batch"] = time.perf_counter() - s
    repo.close()
    return t


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, fn in (("cli", run_cli), ("api", run_api)):
            root = Path(tmp) / name / "lake"
            targets = make_lake(root)
            results[name] = fn(root, targets)
    print(f"DVC on {N_BATCHES} batches x {ROWS:,} rows (seconds)\n")
    print("| step | subprocess CLI | Python API (in-process) | CLI / API |\n|---|---:|---:|---:|")
    for step in results["cli"]:
        c, a = results["cli"][step], results["api"][step]
        print(f"| {step} | {c:.2f} | {a:.2f} | {c / a:.1f}x |")
    out = Path(__file__).parent / "results" / "versioning.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"batches": N_BATCHES, "rows": ROWS, "seconds": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
