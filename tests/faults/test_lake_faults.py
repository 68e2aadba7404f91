"""Faults on a real lake with real processes: a stage killed with SIGKILL mid-write, two
runs started on one lake at once, an Airflow run's lease between its tasks, and a disk
that fills up while an artifact is written. Each case checks that nothing was lost and
that the data afterwards equals what an undisturbed run produces."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FIRST, SECOND = "2026-01-01", "2026-01-02"
# Two daily batches large enough that ingest writes curated tables of a few MB.
SYNTH = {"n_days": 2, "n_interactions": 200000, "n_users": 10000, "n_items": 3000, "seed": 5}


def env_for(tmp: Path, **extra: str) -> dict[str, str]:
    """No params.yaml from the checkout, no RECAUG_* of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECAUG_") or k.startswith("RECAUG_TEST_")}
    env.update({"RECAUG_PARAMS": str(tmp / "no-params.yaml"), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra})
    return env


def recaug(tmp: Path, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "recaug.cli", *args], env=env_for(tmp), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def run(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    proc = recaug(tmp, *args)
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def files(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under `root`, lake-relative (lock files and `skip` sections left out)."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(("state/lake", *skip)):
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def temp_litter(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.name.endswith(".recaug-tmp")
                  or ".staging-" in p.name)


def ledger(lake: Path) -> dict[str, tuple[str, dict]]:
    """Batch -> (status, file hashes): the ledger without its timestamps."""
    batches = json.loads((lake / "state" / "batches.json").read_text())["batches"]
    return {name: (record["status"], record["files"]) for name, record in batches.items()}


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    """The two synthetic batches, made once."""
    tmp = tmp_path_factory.mktemp("synth")
    sets = [f"--set=data.synth.{k}={v}" for k, v in SYNTH.items()]
    done = run(tmp, "data", "synth", "--out", str(tmp / "landing"), "--lake", str(tmp / "unused"), *sets)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp / "landing").iterdir()) == [FIRST, SECOND]
    return tmp / "landing"


@pytest.fixture(scope="module")
def after_first(landing, tmp_path_factory) -> Path:
    """A lake that accepted the first batch, with the second waiting in landing/."""
    tmp = tmp_path_factory.mktemp("first")
    lake = tmp / "lake"
    shutil.copytree(landing, lake / "landing")
    done = run(tmp, "ingest", "--lake", str(lake), "--batch", FIRST)
    assert done.returncode == 0, done.stderr
    return lake


@pytest.fixture(scope="module")
def undisturbed(after_first, tmp_path_factory) -> Path:
    """The reference: the second batch ingested with nothing going wrong."""
    tmp = tmp_path_factory.mktemp("reference")
    lake = tmp / "lake"
    shutil.copytree(after_first, lake)
    done = run(tmp, "ingest", "--lake", str(lake))
    assert done.returncode == 0, done.stderr
    return lake


def copy_of(lake: Path, tmp: Path) -> Path:
    target = tmp / "lake"
    shutil.copytree(lake, target)
    return target


def same_outcome(lake: Path, reference: Path) -> None:
    assert files(lake, skip=("state",)) == files(reference, skip=("state",))
    assert ledger(lake) == ledger(reference)
    assert not (lake / "landing" / SECOND).exists()


def kill_when_writing(proc: subprocess.Popen, folder: Path) -> str:
    """SIGKILL `proc` the moment a temporary file of an atomic write shows up in `folder`."""
    while proc.poll() is None:
        try:
            temps = [e.name for e in os.scandir(folder) if e.name.endswith(".recaug-tmp")]
        except FileNotFoundError:
            temps = []
        if temps:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return temps[0]
    raise AssertionError(f"the stage finished before it wrote into {folder}: {proc.stderr.read()[-2000:]}")


def test_stage_killed_mid_write_keeps_old_outputs_and_a_rerun_completes(after_first, undisturbed, tmp_path):
    lake = copy_of(after_first, tmp_path)
    before = files(lake)
    proc = recaug(tmp_path, "ingest", "--lake", str(lake))
    temp = kill_when_writing(proc, lake / "curated")
    assert proc.returncode == -signal.SIGKILL

    target = temp[1:].split(".")[0] + ".parquet"  # .<name>.<random>.recaug-tmp
    assert files(lake)[f"curated/{target}"] == before[f"curated/{target}"]  # the file being written: old bytes
    for rel, digest in files(lake).items():  # every file is old bytes or a complete new one
        if rel in before and rel.startswith("curated/") and digest != before[rel]:
            assert digest == files(undisturbed)[rel]
    assert [p.name for p in (lake / "curated").iterdir() if not p.name.startswith(".")] == \
        [p.name for p in (after_first / "curated").iterdir()]

    status = json.loads(run(tmp_path, "lake", "status", "--json", "--lake", str(lake)).stdout)
    assert status["free"] and not status["alive"] and f"pid {proc.pid}" in status["reason"]
    assert "died without releasing" in status["reason"]

    rerun = run(tmp_path, "ingest", "--lake", str(lake))
    assert rerun.returncode == 0, rerun.stderr
    assert "taking over the lake lock" in rerun.stderr and "temporary file the dead writer left" in rerun.stderr
    assert temp_litter(lake) == []
    same_outcome(lake, undisturbed)


def test_two_runs_at_once_one_proceeds_the_other_fails_fast_naming_it(after_first, undisturbed, tmp_path):
    lake = copy_of(after_first, tmp_path)
    procs = [recaug(tmp_path, "ingest", "--lake", str(lake), "--run-id", f"run-{i}") for i in (1, 2)]
    outcomes = [(p, *p.communicate(timeout=600)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in outcomes)
    assert codes == [0, 75], [err[-1500:] for _, _, err in outcomes]
    winner = next(p for p, _, _ in outcomes if p.returncode == 0)
    _, _, refused = next(o for o in outcomes if o[0].returncode == 75)
    assert "is busy" in refused and f"pid {winner.pid}" in refused and "recaug ingest" in refused
    assert "Traceback" not in refused
    same_outcome(lake, undisturbed)
    assert temp_litter(lake) == []


DRIVER = """
import json, os, sys
from pathlib import Path
from recaug.orchestrate.airflow_env import airflow_env
from recaug.orchestrate.local_run import ROOT, ensure_airflow_db

home, dag_file = sys.argv[1], sys.argv[2]
env = airflow_env(home, ROOT)
env["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(dag_file).parent)
os.environ.update(env)
ensure_airflow_db(env)
from airflow.dag_processing.dagbag import DagBag
from recaug.orchestrate.runs import safe_run_id

bag = DagBag(dag_folder=dag_file)
assert not bag.import_errors, bag.import_errors
runs = {}
for dag_id in ("lease_ok", "lease_fail"):
    dag_run = bag.dags[dag_id].test()
    runs[dag_id] = {"state": str(getattr(dag_run.state, "value", dag_run.state)), "run_id": safe_run_id(dag_run.run_id)}
print("RUNS " + json.dumps(runs))
"""


def test_airflow_run_keeps_its_lease_between_tasks_and_frees_the_lake_at_its_end(tmp_path):
    lake = tmp_path / "lake"
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(Path(__file__).with_name("lease_probe_dags.py"), dags / "lease_probe_dags.py")
    probe_out = tmp_path / "between.json"
    env = env_for(tmp_path, RECAUG_LAKE_ROOT=str(lake), RECAUG_ALLOWED_LAKE_ROOTS=str(lake),
                  LEASE_PROBE_OUT=str(probe_out))
    done = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path / "airflow"), str(dags / "lease_probe_dags.py")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    line = next((l for l in done.stdout.splitlines() if l.startswith("RUNS ")), None)
    assert line, done.stdout[-3000:] + done.stderr[-3000:]
    runs = json.loads(line[5:])
    assert runs["lease_ok"]["state"] == "success" and runs["lease_fail"]["state"] == "failed"

    from recaug.lake import Lake
    from recaug.orchestrate.runs import read_records

    ok_run = runs["lease_ok"]["run_id"]
    records = {r.task_id: r for r in read_records(Lake.at(lake), ok_run)}
    during = records["first"].result
    assert during["alive"] and during["holder"]["run_id"] == ok_run and during["holder"]["kind"] == "airflow"
    between = json.loads(probe_out.read_text())  # a CLI writer between two tasks of the run
    assert between["exit"] == 75 and "between its tasks" in between["stderr"] and ok_run in between["stderr"]
    assert not (lake / "reports" / "intruder").exists()
    assert records["last"].result["holder"]["run_id"] == ok_run

    fail_run = runs["lease_fail"]["run_id"]
    assert (lake / "reports" / fail_run / "failure.md").exists()
    status = json.loads(run(tmp_path, "lake", "status", "--json", "--lake", str(lake)).stdout)
    assert status["free"] and status["holder"] is None  # ended by the report task, then the failure callback
    assert run(tmp_path, "report", "--lake", str(lake), "--run-id", "after").returncode == 0


def mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); tests/unit/test_io.py covers EFBIG instead")


def test_disk_full_while_writing_keeps_every_previous_file(after_first, undisturbed, tmp_path):
    lake = tmp_path / "lake"
    mount_tmpfs(lake, "64m")
    try:
        shutil.copytree(after_first, lake, dirs_exist_ok=True)
        before = files(lake)
        second = sum(p.stat().st_size for p in (lake / "landing" / SECOND).rglob("*") if p.is_file())
        # Room for the raw/ copy of the batch, not for the rewritten curated tables.
        free = shutil.disk_usage(lake).free
        ballast = lake / "ballast.bin"
        with ballast.open("wb") as fh:
            fh.write(b"\0" * (free - int(second * 1.3)))
        full = run(tmp_path, "ingest", "--lake", str(lake))
        assert full.returncode == 4, full.stderr[-3000:]
        assert "Traceback" not in full.stderr
        assert "error: cannot write" in full.stderr and "curated/interactions.parquet: No space left on device" in full.stderr
        assert "previous version of the file is kept" in full.stderr
        after = files(lake)
        assert {rel: after.get(rel) for rel in before} == before  # every previous file intact, landing included
        assert temp_litter(lake) == []
        assert ledger(lake) == ledger(after_first)  # the batch is not recorded: the next run does it
        assert json.loads(run(tmp_path, "lake", "status", "--json", "--lake", str(lake)).stdout)["free"]

        ballast.unlink()
        rerun = run(tmp_path, "ingest", "--lake", str(lake))
        assert rerun.returncode == 0, rerun.stderr
        (lake / "ballast.bin").unlink(missing_ok=True)
        same_outcome(lake, undisturbed)
    finally:
        subprocess.run(["umount", "-l", str(lake)], check=False)
