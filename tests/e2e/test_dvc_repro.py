"""`dvc repro` runs the pipeline without Airflow and reruns only what changed.

A temp git repository holds copies of dvc.yaml, the code the stages depend on and a
tiny params.yaml; the stages run the installed `recaug` CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nightly_helpers import ROOT, TINY_SYNTH

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

STAGES = ("ingest", "augment", "embed", "features", "materialize", "model", "report")

PARAMS = {
    "lake_root": "var/lake",
    "data": {"synth": {**TINY_SYNTH, "n_days": 3}},
    "validate": {"rating_max": 5.0},
    "augment": {"backend": {"type": "template"}, "max_items_per_run": 8},
    "embed": {"batch_size": 32},
    "features": {"history_length": 20},
    "model": {"hidden_size": 16, "num_layers": 1, "max_length": 20},
    "train": {"epochs": 2, "seed": 3},
    "export": {"top_k": 10},
}


def _run(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECAUG_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    env["OMP_NUM_THREADS"] = "2"
    proc = subprocess.run(list(args), cwd=repo, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def _ran(output: str) -> set[str]:
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output}


def _run_artifact(repo: Path) -> tuple[Path, dict]:
    """The artifact the `dvc` run's model stage produced (its train task record) and its train result."""
    result = json.loads((repo / "var" / "lake" / "reports" / "dvc" / "tasks" / "train.json").read_text())["result"]
    return Path(result["artifact_dir"]), result


def _file_hashes(directory: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("dvc_repo")
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copytree(ROOT / "recaug", repo / "recaug", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "feature_repo", repo / "feature_repo", ignore=shutil.ignore_patterns("__pycache__", "data"))
    (repo / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    _run(repo, "git", "init", "-q")
    _run(repo, sys.executable, "-m", "dvc", "init", "-q")
    staging = repo / "incoming"
    _run(repo, "recaug", "data", "synth", "--out", str(staging), "--set", "data.synth.n_days=4")
    (repo / "var" / "lake" / "landing").mkdir(parents=True)
    for batch in sorted(staging.iterdir())[:3]:
        shutil.move(str(batch), repo / "var" / "lake" / "landing" / batch.name)
    return repo


def test_repro_from_scratch_then_nothing_then_only_what_changed(repo):
    first = _run(repo, sys.executable, "-m", "dvc", "repro")
    assert _ran(first) == set(STAGES)

    first_artifact, first_train = _run_artifact(repo)
    assert first_artifact.parent == repo / "var" / "lake" / "models" and first_artifact.name.startswith("dvc-")
    assert (first_artifact / "model.onnx").is_file() and first_train["skipped"] is False
    first_files = _file_hashes(first_artifact)

    metrics = json.loads(_run(repo, sys.executable, "-m", "dvc", "metrics", "show", "--json"))
    flat = json.dumps(metrics)
    assert "ndcg@10" in flat and "hr@10" in flat
    _run(repo, sys.executable, "-m", "dvc", "plots", "show", "-o", "plots_out")
    assert (repo / "plots_out" / "index.html").exists()

    unchanged = _run(repo, sys.executable, "-m", "dvc", "repro")
    assert _ran(unchanged) == set()

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["epochs"] = 3
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    retrained = _run(repo, sys.executable, "-m", "dvc", "repro")
    assert _ran(retrained) == {"model", "report"}
    second_artifact, second_train = _run_artifact(repo)
    assert second_artifact != first_artifact and second_train["skipped"] is False
    assert _file_hashes(first_artifact) == first_files  # the earlier model (live or rollback target) is untouched
    assert "ndcg@10" in _run(repo, sys.executable, "-m", "dvc", "metrics", "show")  # stable paths still read

    params["train"]["epochs"] = 2  # back to the first parameters: the first artifact again, nothing retrained
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    assert _ran(_run(repo, sys.executable, "-m", "dvc", "repro")) == {"model", "report"}
    artifact, train = _run_artifact(repo)
    assert artifact == first_artifact and train["skipped"] is True
    regated = {name: digest for name, digest in _file_hashes(first_artifact).items() if name != "gate.json"}
    assert regated == {name: digest for name, digest in first_files.items() if name != "gate.json"}  # a new decision only
    assert (second_artifact / "model.onnx").is_file()

    new_batch = sorted((repo / "incoming").iterdir())[0]
    shutil.move(str(new_batch), repo / "var" / "lake" / "landing" / new_batch.name)
    with_batch = _run(repo, sys.executable, "-m", "dvc", "repro")
    assert "ingest" in _ran(with_batch)
    assert (repo / "var" / "lake" / "raw" / new_batch.name).is_dir()
    assert _ran(_run(repo, sys.executable, "-m", "dvc", "repro")) == set()
