"""One lake, one writer at a time: the lake-wide run lock.

Every entry point that writes the lake takes it: each `recaug <stage>` command (and so
every `dvc repro` stage, which calls the CLI), and every Airflow task through
`recaug_airflow.stage_runner.run_stage`. Commands that only read or only drop new
batches into the landing inbox (`data versions`, `data synth/load/fetch`, `lake
status`, `features serve/context`, `serve ...`) do not take it.

Semantics
- The lock has one holder at a time, recorded in `state/lake-holder.json`: run id,
  command or task, pid, host, since. A writer of another run is refused at once with
  `LakeBusy` naming that holder (exit code 75); nothing waits or hangs.
- A CLI command holds the lock for its own lifetime only. Without `--run-id` its key is
  unique to the process, so it shares with nobody; commands given the same explicit run
  id are one run and share it (e.g. `recaug embed --shard i` workers started side by
  side), and the lock is free when the last of them exits.
- Tasks of one Airflow run share it (key `airflow:<run id>`): materialize beside train
  and mapped embed shards run at once. The run keeps a *lease* between its tasks, so no
  other writer slips in between two tasks of a running run: the lease starts with the
  run's first task and ends when its last task (`report`) finishes or when a task fails
  for good (the failure callback). A retried or cleared task of the same run joins it.
- Liveness: every process inside the lock holds a shared `flock` on `state/lake.lock`
  (the kernel drops it when the process dies, SIGKILL included). A holder is stale when
  no process holds that flock and either it was a CLI command (it died without
  releasing) or its Airflow lease was last renewed longer ago than
  `lock.lease_timeout_minutes`. A stale holder is taken over with a warning naming it,
  and the temporary files dead writers left behind are removed (`io.remove_temp_files`).
- `recaug lake hold -- CMD` holds the lock for the whole of CMD (e.g. `dvc repro`, whose
  stages are separate `recaug` processes): it passes its key to CMD's processes in
  $RECAUG_LAKE_LEASE, so they join it while nobody else can slip in between them.
- `recaug lake status` shows the holder; `recaug lake unlock` releases the lease of an
  abandoned run (refused while any of its processes still runs).
- Reads and writes of the holder record happen under a short exclusive `flock` on
  `state/lake.guard`, so two claimants never both see a free lake.

Local lakes only: flock needs a POSIX filesystem (local disk; NFSv4 carries flock
across hosts). Object stores have no lock primitive fsspec can rely on (no portable
conditional create), so for an fsspec URL lake the lock is refused by default with a
clear error; `lock.remote_lakes=unlocked` runs without it, for deployments that
guarantee a single writer themselves (one Airflow DAG with max_active_runs=1 and no CLI
writers).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterator, Literal

from pydantic import BaseModel, Field

from recaug import io
from recaug.errors import ConfigError, RecaugError
from recaug.lake import SECTIONS, Lake

log = logging.getLogger(__name__)

LEASE_ENV = "RECAUG_LAKE_LEASE"
HOLDER_FILE = "lake-holder.json"
LIVENESS_FILE = "lake.lock"
GUARD_FILE = "lake.guard"


class LakeLockConfig(BaseModel):
    """How the lake-wide run lock treats abandoned runs and non-local lakes."""

    lease_timeout_minutes: float = Field(
        120.0, gt=0,
        description="an Airflow run lease with no live task is abandoned after this long (then taken over)",
    )
    remote_lakes: Literal["refuse", "unlocked"] = Field(
        "refuse", description="fsspec URL lakes cannot be locked: refuse writers, or run them unlocked",
    )


class LakeBusy(RecaugError):
    """Another run holds the lake; the message names it and says what to do."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class Claim(BaseModel):
    """Who asks for the lock: `key` decides who may share it."""

    key: str
    run_id: str
    kind: Literal["cli", "airflow"]
    command: str


class LakeHolder(BaseModel):
    key: str
    run_id: str
    kind: Literal["cli", "airflow"]
    command: str
    pid: int
    host: str
    since: datetime
    renewed_at: datetime = Field(description="last time one of its processes took or released the lock")
    ended: bool = Field(False, description="the run is over; free as soon as none of its processes runs")

    def describe(self) -> str:
        return (f"run {self.run_id!r} ({self.command}, pid {self.pid} on {self.host}, "
                f"since {self.since:%Y-%m-%d %H:%M:%S} UTC)")


class LockStatus(BaseModel):
    holder: LakeHolder | None
    alive: bool = Field(description="some process holds the lock right now")
    free: bool = Field(description="a new run could take the lake now")
    reason: str


def cli_claim(run_id: str | None, command: str) -> Claim:
    """A CLI command: inside `recaug lake hold` it joins the holding command; else shared
    with the commands of the same explicit run id, or exclusive."""
    key = (os.environ.get(LEASE_ENV) or (f"cli-run:{run_id}" if run_id else None)
           or f"cli:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    return Claim(key=key, run_id=run_id or "cli", kind="cli", command=command)


def airflow_claim(run_id: str, task: str) -> Claim:
    """An Airflow task: shared with every task of the same run."""
    return Claim(key=f"airflow:{run_id}", run_id=run_id, kind="airflow", command=f"airflow task {task}")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class LakeLock:
    """The lock files of one local lake (see the module docstring)."""

    def __init__(self, lake: Lake, config: LakeLockConfig):
        self.lake = lake
        self.config = config
        state = lake.local("state")
        state.mkdir(parents=True, exist_ok=True)
        self.holder_path = state / HOLDER_FILE
        self.liveness_path = state / LIVENESS_FILE
        self.guard_path = state / GUARD_FILE

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[None]:
        fd = os.open(self.guard_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> LakeHolder | None:
        if not self.holder_path.exists():
            return None
        return LakeHolder.model_validate(io.read_json(str(self.holder_path)))

    def _write(self, holder: LakeHolder) -> None:
        io.write_json(str(self.holder_path), holder.model_dump(mode="json"))

    def _alive(self) -> bool:
        """Whether any process holds the shared liveness flock (call under the guard)."""
        fd = os.open(self.liveness_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def _why_free(self, holder: LakeHolder | None, alive: bool) -> tuple[bool, str]:
        if alive:
            who = holder.describe() if holder else "a process with no holder record"
            return False, f"held by {who}, which is still running"
        if holder is None:
            return True, "not locked"
        if holder.ended:
            return True, f"released by {holder.describe()}"
        if holder.kind == "cli":
            return True, f"stale: {holder.describe()} died without releasing it"
        age = _now() - holder.renewed_at
        timeout = timedelta(minutes=self.config.lease_timeout_minutes)
        if age > timeout:
            return True, (f"stale: no task of {holder.describe()} has run for {age.total_seconds() / 60:.0f} min "
                          f"(lock.lease_timeout_minutes={self.config.lease_timeout_minutes:g})")
        expires = holder.renewed_at + timeout
        return False, (f"leased by {holder.describe()} between its tasks (no task running now; the lease "
                       f"expires at {expires:%Y-%m-%d %H:%M:%S} UTC unless the run goes on)")

    def status(self) -> LockStatus:
        with self._guarded():
            holder, alive = self._read(), self._alive()
            free, reason = self._why_free(holder, alive)
        return LockStatus(holder=holder, alive=alive, free=free, reason=reason)

    def acquire(self, claim: Claim) -> tuple[int, LakeHolder]:
        """Take (or join) the lock; returns the liveness fd to keep open while writing."""
        with self._guarded():
            holder, alive = self._read(), self._alive()
            now = _now()
            if holder is not None and holder.key == claim.key:
                holder = holder.model_copy(update={"renewed_at": now, "ended": False, "pid": os.getpid(),
                                                   "command": claim.command})
            else:
                free, reason = self._why_free(holder, alive)
                if not free:
                    raise LakeBusy(self._busy_message(holder, alive, reason))
                if holder is not None and not holder.ended:
                    log.warning("taking over the lake lock of %s: %s", self.lake.root, reason)
                    self._remove_temp_files()
                holder = LakeHolder(**claim.model_dump(), pid=os.getpid(), host=socket.gethostname(),
                                    since=now, renewed_at=now)
            self._write(holder)
            fd = os.open(self.liveness_path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        log.info("lake %s locked for %s", self.lake.root, holder.describe())
        return fd, holder

    def release(self, fd: int, claim: Claim, end_run: bool) -> None:
        """Leave the lock: a CLI command frees it; an Airflow task keeps its run's lease
        unless `end_run`."""
        with self._guarded():
            os.close(fd)
            holder = self._read()
            if holder is None or holder.key != claim.key:
                return
            if claim.kind == "cli" or end_run:
                self._end(holder)
            else:
                self._write(holder.model_copy(update={"renewed_at": _now()}))

    def end_run(self, claim: Claim) -> bool:
        """End the lease of `claim`'s run (failure callback); False when it holds none."""
        with self._guarded():
            holder = self._read()
            if holder is None or holder.key != claim.key:
                return False
            self._end(holder)
            return True

    def _end(self, holder: LakeHolder) -> None:
        """Free the lock now, or once the run's other processes finish."""
        if self._alive():
            self._write(holder.model_copy(update={"ended": True, "renewed_at": _now()}))
        else:
            self.holder_path.unlink(missing_ok=True)

    def unlock(self, only_key: str | None = None) -> LakeHolder | None:
        """Release the lease of an abandoned run (operators); refused while it runs.
        With `only_key`, a lease of any other run is left alone (returns None)."""
        with self._guarded():
            holder, alive = self._read(), self._alive()
            if only_key is not None and (holder is None or holder.key != only_key):
                return None
            if alive:
                _, reason = self._why_free(holder, alive)
                raise LakeBusy(f"cannot unlock the lake {self.lake.root}: {reason}. "
                               "Stop that process first (or let it finish); the lock frees itself when it exits")
            if holder is None:
                return None
            self.holder_path.unlink()
            self._remove_temp_files()
        log.warning("lake %s unlocked; it was held by %s", self.lake.root, holder.describe())
        return holder

    def _remove_temp_files(self) -> None:
        """Temporary files of dead writers (no writer is alive when this runs). landing/ is
        left alone: producers that need no lock may be writing there right now."""
        for section in SECTIONS:
            folder = self.lake.local(section)
            if section == "landing" or not folder.is_dir():
                continue
            for path in io.remove_temp_files(folder):
                log.warning("removed %s, a temporary file the dead writer left behind", path)

    def _busy_message(self, holder: LakeHolder | None, alive: bool, reason: str) -> str:
        advice = ("wait for it to finish" if alive else
                  "wait for that run to finish, or, if it was abandoned, release it with `recaug lake unlock`")
        return f"the lake {self.lake.root} is busy: {reason}; {advice}"


def _lock_for(settings) -> LakeLock | None:
    """The lake's lock, or None when a non-local lake is configured to run unlocked."""
    lake = settings.lake
    if lake.is_local:
        return LakeLock(lake, settings.lock)
    if settings.lock.remote_lakes == "unlocked":
        log.warning("lake %s is not a local path: writing without the lake lock (lock.remote_lakes=unlocked)", lake.root)
        return None
    raise ConfigError(
        f"the lake {lake.root} is not a local path, and the lake lock needs one (flock on a POSIX filesystem); "
        "use a local or NFS path, or set lock.remote_lakes=unlocked if this deployment guarantees a single writer"
    )


@contextlib.contextmanager
def lake_writer(settings, claim: Claim, end_run: bool = False) -> Iterator[LakeHolder | None]:
    """Hold the lake lock for the body (see the module docstring for who shares it)."""
    lock = _lock_for(settings)
    if lock is None:
        yield None
        return
    fd, holder = lock.acquire(claim)
    try:
        yield holder
    finally:
        lock.release(fd, claim, end_run=end_run)


def end_run_lease(settings, claim: Claim) -> bool:
    """End an Airflow run's lease from outside its tasks (the failure callback)."""
    lock = _lock_for(settings)
    return lock.end_run(claim) if lock is not None else False
