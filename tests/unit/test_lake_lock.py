"""The lake-wide run lock: exclusive across runs, shared within an Airflow run, stale
holders taken over; liveness checked against real processes killed with SIGKILL."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest

from recaug import cli, io
from recaug.lake import Lake
from recaug.lake_lock import LakeBusy, LakeLock, LakeLockConfig, airflow_claim, cli_claim, lake_writer
from recaug.settings import load_settings

HOLD = """
import sys, time
from recaug.lake import Lake
from recaug.lake_lock import LakeLock, LakeLockConfig, airflow_claim, cli_claim
lock = LakeLock(Lake.at(sys.argv[1]), LakeLockConfig())
who = sys.argv[2]
if who == "cli":
    claim = cli_claim(None, "test holder").model_copy(update={"run_id": "held-run"})
elif who.startswith("cli-run:"):
    claim = cli_claim(who.split(":", 1)[1], "test holder")
else:
    claim = airflow_claim(who, "dag.task")
lock.acquire(claim)
print("ready", flush=True)
time.sleep(600)
"""


@contextmanager
def holder_process(lake_root, who: str = "cli"):
    """A real process that takes the lock and keeps it (`who`: "cli", "cli-run:<run id>"
    or an Airflow run id)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lake_root), who], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def kill(proc) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture
def lock(tmp_path):
    return LakeLock(Lake.at(tmp_path / "lake"), LakeLockConfig())


def test_second_run_is_refused_at_once_naming_the_holder(lock, tmp_path):
    with holder_process(tmp_path / "lake") as proc:
        with pytest.raises(LakeBusy) as busy:
            lock.acquire(cli_claim("other", "recaug train"))
        message = str(busy.value)
        assert "held-run" in message and "test holder" in message and f"pid {proc.pid}" in message
        assert os.uname().nodename in message and "since" in message and "still running" in message
        status = lock.status()
        assert status.alive and not status.free and status.holder.pid == proc.pid


def test_cli_commands_share_only_an_explicit_run_id(lock, tmp_path):
    first = cli_claim(None, "recaug ingest")
    fd, _ = lock.acquire(first)
    with pytest.raises(LakeBusy):
        lock.acquire(cli_claim(None, "recaug ingest"))
    lock.release(fd, first, end_run=False)
    assert lock.status().holder is None and lock.status().free

    with holder_process(tmp_path / "lake", "cli-run:shards") as proc:  # `recaug embed --shard 0 --run-id shards`
        shard = cli_claim("shards", "recaug embed --shard 1")
        fd, holder = lock.acquire(shard)
        assert holder.run_id == "shards"
        with pytest.raises(LakeBusy, match="'shards'"):
            lock.acquire(cli_claim("other", "recaug embed --shard 1"))
        lock.release(fd, shard, end_run=False)
        assert lock.status().holder.ended and not lock.status().free  # the other shard still runs
        kill(proc)
    assert lock.status().free


def test_tasks_of_one_airflow_run_share_and_keep_the_lease_between_tasks(lock, tmp_path):
    with holder_process(tmp_path / "lake", "run-1"):
        task = airflow_claim("run-1", "dag.train")
        fd, holder = lock.acquire(task)  # beside the running task of the same run
        assert holder.run_id == "run-1"
        with pytest.raises(LakeBusy, match="run-1"):
            lock.acquire(airflow_claim("run-2", "dag.find_batches"))
        lock.release(fd, task, end_run=False)
    # no task of run-1 runs now, but its lease keeps other writers out between tasks
    with pytest.raises(LakeBusy, match="between its tasks"):
        lock.acquire(cli_claim(None, "recaug ingest"))
    fd, _ = lock.acquire(airflow_claim("run-1", "dag.report"))
    lock.release(fd, airflow_claim("run-1", "dag.report"), end_run=True)
    assert lock.status().free and lock.status().holder is None
    command = cli_claim(None, "recaug ingest")
    fd, holder = lock.acquire(command)
    assert holder.kind == "cli"
    lock.release(fd, command, end_run=False)
    assert lock.status().holder is None


def test_ending_a_run_waits_for_its_running_tasks(lock, tmp_path):
    with holder_process(tmp_path / "lake", "run-1"):
        assert lock.end_run(airflow_claim("run-1", "dag.train"))  # the failure callback
        assert lock.status().holder.ended
        with pytest.raises(LakeBusy, match="still running"):
            lock.acquire(cli_claim(None, "recaug ingest"))
    assert lock.status().free


def test_holder_killed_with_sigkill_is_stale_and_taken_over(lock, tmp_path, caplog):
    lake = tmp_path / "lake"
    with holder_process(lake) as proc:
        litter = lake / "curated" / ".interactions.parquet.abc123.recaug-tmp"
        litter.parent.mkdir(parents=True)
        litter.write_bytes(b"half a file")
        inbox = lake / "landing" / ".2026-01-05.tmp-x" / ".items.parquet.q1.recaug-tmp"  # a producer writing now
        inbox.parent.mkdir(parents=True)
        inbox.write_bytes(b"in flight")
        kill(proc)
        status = lock.status()
        assert status.free and not status.alive and "died without releasing" in status.reason
        with caplog.at_level(logging.WARNING, logger="recaug.lake_lock"):
            fd, holder = lock.acquire(cli_claim("next", "recaug ingest"))
        assert holder.run_id == "next" and holder.pid == os.getpid()
        assert "taking over the lake lock" in caplog.text and f"pid {proc.pid}" in caplog.text
        assert not litter.exists() and inbox.exists()


def test_abandoned_airflow_lease_expires_after_the_timeout(tmp_path, caplog):
    lake = Lake.at(tmp_path / "lake")
    patient = LakeLock(lake, LakeLockConfig(lease_timeout_minutes=60))
    fd, _ = patient.acquire(airflow_claim("run-1", "dag.train"))
    patient.release(fd, airflow_claim("run-1", "dag.train"), end_run=False)
    with pytest.raises(LakeBusy, match="recaug lake unlock"):
        patient.acquire(cli_claim(None, "recaug ingest"))
    hasty = LakeLock(lake, LakeLockConfig(lease_timeout_minutes=1e-9))
    with caplog.at_level(logging.WARNING, logger="recaug.lake_lock"):
        fd, holder = hasty.acquire(cli_claim(None, "recaug ingest"))
    assert holder.kind == "cli" and "no task of run 'run-1'" in caplog.text


def test_unlock_refuses_a_running_holder_and_releases_an_abandoned_lease(lock, tmp_path):
    with holder_process(tmp_path / "lake", "run-1") as proc:
        with pytest.raises(LakeBusy, match="Stop that process first"):
            lock.unlock()
        kill(proc)
    with pytest.raises(LakeBusy):  # the lease of run-1 outlives its killed task
        lock.acquire(cli_claim(None, "recaug ingest"))
    assert lock.unlock().run_id == "run-1"
    assert lock.unlock() is None
    assert lock.status().free


def test_lake_writer_refuses_a_url_lake_unless_configured_unlocked():
    settings = load_settings({"lake_root": "memory://recaug-lock-test/lake"})
    with pytest.raises(Exception, match="not a local path"):
        with lake_writer(settings, cli_claim(None, "recaug ingest")):
            pass
    unlocked = load_settings({"lake_root": "memory://recaug-lock-test/lake", "lock": {"remote_lakes": "unlocked"}})
    with lake_writer(unlocked, cli_claim(None, "recaug ingest")) as holder:
        assert holder is None


def test_cli_writers_fail_fast_while_readers_run(tmp_path, capsys):
    lake = tmp_path / "lake"
    with holder_process(lake) as proc:
        assert cli.main(["report", "--lake", str(lake), "--run-id", "r1"]) == LakeBusy.exit_code
        err = capsys.readouterr().err
        assert "busy" in err and f"pid {proc.pid}" in err and "held-run" in err
        assert not (lake / "reports" / "r1").exists()
        assert cli.main(["data", "versions", "--lake", str(lake)]) == 0
        assert cli.main(["lake", "status", "--lake", str(lake)]) == 0
        assert "busy" in capsys.readouterr().out
    assert cli.main(["report", "--lake", str(lake), "--run-id", "r1"]) == 0
    assert (lake / "reports" / "r1" / "report.md").exists()
    assert not io.exists(str(lake / "state" / "lake-holder.json"))


def test_lake_hold_lets_its_command_write_and_keeps_everyone_else_out(tmp_path):
    lake = tmp_path / "lake"
    recaug = f"{sys.executable} -m recaug.cli"
    script = (f"{recaug} report --lake {lake} --run-id a && "
              f"env -u RECAUG_LAKE_LEASE {recaug} report --lake {lake} --run-id intruder; echo $? > {tmp_path}/intruder && "
              f"{recaug} report --lake {lake} --run-id b")
    done = subprocess.run([sys.executable, "-m", "recaug.cli", "lake", "hold", "--lake", str(lake), "--", "sh", "-c", script],
                          capture_output=True, text=True, env={**os.environ, "RECAUG_PARAMS": str(tmp_path / "none.yaml")})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "intruder").read_text().strip() == str(LakeBusy.exit_code)
    assert (lake / "reports" / "a" / "report.md").exists() and (lake / "reports" / "b" / "report.md").exists()
    assert not (lake / "reports" / "intruder").exists()
    assert LakeLock(Lake.at(lake), LakeLockConfig()).status().holder is None
    failing = subprocess.run([sys.executable, "-m", "recaug.cli", "lake", "hold", "--lake", str(lake), "--", "sh", "-c", "exit 3"],
                             capture_output=True, text=True, env={**os.environ, "RECAUG_PARAMS": str(tmp_path / "none.yaml")})
    assert failing.returncode == 3
