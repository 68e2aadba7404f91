"""DVC versioning of the data lake: accepted batches and derived datasets.

The lake root is the DVC workspace, initialised with `dvc init --no-scm`: the lake
usually sits inside (or outside) some git checkout that must not receive data
commits, and a version does not need git to be restored. Each `version_data` run
`dvc add`s and `dvc push`es its targets and writes manifests/<run>.json holding every
target's hash, the full text of its .dvc file and the accepted batches of the batch
ledger (state/batches.json); `checkout_version` writes those .dvc files back and runs
`dvc pull --force`, which restores the bytes from the cache or the remote. DVC runs as a
subprocess of this interpreter (`python -m dvc`), one at a time per workspace (a file
lock in state/).

A checkout never loses data (run it under the lake lock: `recaug data checkout` holds
it):
- Derived data it replaces that no version holds (the workspace differs from its .dvc
  file, or was never versioned) is moved to state/checkout-backups/<time>-<version>/
  first, with a copy of the ledger as it was.
- The ledger stays true to the restored data: batches accepted after the version are
  re-queued (raw/<batch> is copied back into landing/<batch> and its ledger entry
  dropped), so the next ingest re-applies them; batches the version holds get its
  ledger entries back. Drops happen before the restore and additions after it, so a
  crash in between leaves, at worst, a batch that the next ingest re-applies (merging
  is idempotent), never one that is silently missing.
- It refuses, changing nothing, when it cannot keep that promise: a version recorded
  without its ledger and without raw/ batches (curated contents unknown; `--force`
  restores anyway and leaves the ledger alone), a batch to re-queue whose raw/ copy is
  gone, or a different batch waiting in landing/ under the same name.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from recaug import io
from recaug.errors import ConfigError, RecaugError
from recaug.validate import quarantine
from recaug.validate.state import ACCEPTED, BatchRecord, Ledger

log = logging.getLogger(__name__)

REMOTE_NAME = "recaug"
DERIVED_SECTIONS = ("curated", "augment", "embeddings", "features")


class VersioningError(RecaugError):
    """A DVC operation failed; the message carries DVC's own words."""


class TargetVersion(BaseModel):
    md5: str = Field(description="DVC hash of the file or directory (.dir suffix for directories)")
    size: int | None = None
    nfiles: int | None = None
    dvc_file: str = Field(description="lake-relative path of the .dvc file")
    dvc_text: str = Field(description="full .dvc file content: enough to restore this version")
    remote_copy: str | None = Field(
        None, description="lake-relative redacted copy pushed to the remote instead of the target "
        "(privacy.dvc_remote_drop_columns); None: the target itself was pushed"
    )
    dropped_columns: list[str] = Field(default_factory=list, description="columns the remote copy lacks")


class VersionManifest(BaseModel):
    version: str = Field(description="run id, or data-<hash> when none was given")
    created_at: str
    remote: str
    targets: dict[str, TargetVersion] = Field(default_factory=dict)
    batches: dict[str, BatchRecord] | None = Field(
        None, description="accepted batches of the ledger when versioned (None: recorded before this was kept)",
    )

    def hashes(self) -> dict[str, str]:
        return {target: v.md5 for target, v in self.targets.items()}


class CheckoutResult(BaseModel):
    version: str
    restored: dict[str, str] = Field(description="target -> md5 now in the workspace")
    requeued: list[str] = Field(default_factory=list, description="batches accepted after the version, back in landing/")
    backup: str = Field(description="lake-relative folder holding the previous ledger and replaced unversioned data")
    backed_up: list[str] = Field(default_factory=list, description="targets moved into the backup folder")


def ledger_url(settings) -> str:
    return settings.lake.url("state", "batches.json")


def accepted_batches(ledger: Ledger) -> dict[str, BatchRecord]:
    return {name: record for name, record in ledger.batches.items() if record.status == ACCEPTED}


def default_targets(settings) -> list[str]:
    """Every accepted batch plus the derived sections that exist and are not empty."""
    lake = settings.lake
    raw = lake.local("raw")
    targets = [f"raw/{p.name}" for p in sorted(raw.iterdir()) if p.is_dir() and not p.name.startswith(".")] if raw.is_dir() else []
    for section in DERIVED_SECTIONS:
        path = lake.local(section)
        if path.is_dir() and any(path.iterdir()):
            targets.append(section)
    return targets


def version_data(settings, targets: list[str] | None = None) -> VersionManifest:
    """Track `targets` (lake-relative paths; default: `default_targets`) and push them."""
    from filelock import FileLock

    workspace = Workspace(settings)
    targets = sorted(set(targets or default_targets(settings)))
    if not targets:
        raise RecaugError(f"nothing to version in {workspace.root}: no accepted batches or derived data yet")
    for target in targets:
        workspace.check_target(target)
    with FileLock(str(workspace.lock_path)):
        workspace.ensure()
        workspace.dvc("add", "--quiet", *targets)
        copies = _redacted_copies(workspace, targets, settings.privacy.dvc_remote_drop_columns)
        pushed = [workspace.dvc_file(copies.get(t, (t,))[0]) for t in targets]
        workspace.dvc("push", "--quiet", "--remote", REMOTE_NAME, *pushed)
        versions = {t: workspace.read_target(t) for t in targets}
        for target, (copy, columns) in copies.items():
            versions[target] = versions[target].model_copy(update={"remote_copy": copy, "dropped_columns": columns})
        run_id = settings.run_id or "data-" + io.content_hash(*(f"{t}={v.md5}" for t, v in versions.items()))[:12]
        url = settings.lake.url("manifests", f"{run_id}.json")
        if io.exists(url):
            previous = VersionManifest.model_validate(io.read_json(url))
            if previous.hashes() == {t: v.md5 for t, v in versions.items()}:
                log.info("data unchanged since version %s; manifest kept", run_id)
                return previous
            log.warning("run %s versioned again with different data; its manifest is replaced", run_id)
        manifest = VersionManifest(
            version=run_id, created_at=datetime.now(timezone.utc).isoformat(), remote=workspace.remote_url, targets=versions,
            batches=accepted_batches(Ledger.load(ledger_url(settings))),
        )
        io.write_json(url, manifest.model_dump(mode="json"))
    log.info("versioned %d target(s) as %s (remote %s)", len(targets), run_id, workspace.remote_url)
    return manifest


def _redacted_copies(workspace: "Workspace", targets: list[str], drop: list[str]) -> dict[str, tuple[str, list[str]]]:
    """target -> (its redacted copy, the columns dropped) for the targets holding a column of
    `drop`; the copies are tracked (`dvc add`) so that they, not the originals, are pushed."""
    from recaug.data.redaction import personal_columns, redact_target

    copies = {}
    for target in targets:
        copy = redact_target(workspace.root, target, drop)
        if copy:
            copies[target] = (copy, personal_columns(workspace.root / target, drop))
    if copies:
        workspace.dvc("add", "--quiet", *(copy for copy, _ in copies.values()))
        log.info("DVC remote gets redacted copies of %s (without %s); the originals stay in the local cache",
                 ", ".join(sorted(copies)), ", ".join(sorted({c for _, cs in copies.values() for c in cs})))
    return copies


def list_versions(settings) -> list[VersionManifest]:
    manifests = settings.lake.local("manifests")
    found = [VersionManifest.model_validate(io.read_json(p)) for p in sorted(manifests.glob("*.json"))] if manifests.is_dir() else []
    return sorted(found, key=lambda m: m.created_at)


def load_version(settings, version: str) -> VersionManifest:
    url = settings.lake.url("manifests", f"{version}.json")
    if not io.exists(url):
        known = ", ".join(m.version for m in list_versions(settings)) or "none"
        raise RecaugError(f"no data version {version!r} (manifests/{version}.json missing); known versions: {known}")
    return VersionManifest.model_validate(io.read_json(url))


def checkout_version(settings, version: str, force: bool = False) -> CheckoutResult:
    """Restore every target of `version` byte for byte (other tracked data is left alone),
    backing up what no version holds and keeping the batch ledger true to the restored
    data (see the module docstring). `force` restores a version whose batches are unknown."""
    from filelock import FileLock

    manifest = load_version(settings, version)
    workspace = Workspace(settings)
    lake = settings.lake
    ledger = Ledger.load(ledger_url(settings))
    kept = _batches_of(manifest, ledger, force)
    requeue = [] if kept is None else sorted(set(accepted_batches(ledger)) - set(kept))
    _check_requeue(lake, ledger, requeue)
    with FileLock(str(workspace.lock_path)):
        workspace.ensure()
        backup = _backup_folder(lake, version)
        io.write_json(str(backup / "batches.json"), ledger.model_dump(mode="json"))
        for name in requeue:
            if not lake.local("landing", name).exists():  # else: the same bytes already wait there
                quarantine.publish(lake.local("raw", name), lake.local("landing", name))
            del ledger.batches[name]
        ledger.save(ledger_url(settings))
        backed_up = [t for t in workspace.unversioned(manifest.targets) if _move(lake.local(*t.split("/")), backup / t)]
        for tv in manifest.targets.values():
            io.write_text(str(workspace.root / tv.dvc_file), tv.dvc_text)
        workspace.dvc("pull", "--quiet", "--force", "--remote", REMOTE_NAME, *(tv.dvc_file for tv in manifest.targets.values()))
        restored = {t: workspace.read_target(t).md5 for t in manifest.targets}
    mismatched = {t for t, md5 in restored.items() if md5 != manifest.targets[t].md5}
    if mismatched:
        raise VersioningError(f"checkout of {version} left {sorted(mismatched)} at unexpected hashes")
    if kept is not None:
        _restore_ledger_entries(settings, ledger, kept)
    if requeue:
        log.warning("batches %s were accepted after version %s: re-queued into landing/, the next ingest re-applies them",
                    ", ".join(requeue), version)
    if backed_up:
        log.warning("data no version holds was moved to %s: %s", backup, ", ".join(backed_up))
    log.info("checked out data version %s (%d targets)", version, len(restored))
    return CheckoutResult(version=version, restored=restored, requeued=requeue,
                          backup=backup.relative_to(workspace.root).as_posix(), backed_up=backed_up)


def _batches_of(manifest: VersionManifest, ledger: Ledger, force: bool) -> dict[str, BatchRecord] | None:
    """The accepted batches the version's data holds; None when unknown and forced."""
    if manifest.batches is not None:
        return manifest.batches
    raw = {t.split("/", 1)[1] for t in manifest.targets if t.startswith("raw/")}
    if raw:
        current = accepted_batches(ledger)
        return {name: current[name] for name in raw if name in current}
    if force or "curated" not in manifest.targets:
        return None
    raise RecaugError(
        f"data version {manifest.version} was recorded without the batch ledger and lists no raw/ batches, so it is "
        "unknown which accepted batches its curated data holds: restoring it would drop later batches from curated "
        "for good. Nothing was changed. Pass --force to restore it anyway (the ledger is left as it is; re-land "
        "missing batches yourself)"
    )


def _check_requeue(lake, ledger: Ledger, requeue: list[str]) -> None:
    """Refuse before changing anything when a batch could not be re-queued intact."""
    for name in requeue:
        raw = lake.local("raw", name)
        if not raw.is_dir():
            raise RecaugError(f"batch {name} was accepted after this version but raw/{name} is missing, so it cannot be "
                              "re-queued; restore raw/ first (`recaug data checkout` of a later version). Nothing was changed")
        landing = lake.local("landing", name)
        if landing.exists() and quarantine.file_hashes(landing) != ledger.batches[name].files:
            raise RecaugError(f"landing/{name} holds a different batch than the accepted batch {name} that this checkout "
                              "must re-queue there; move it away (or land it under another name) first. Nothing was changed")


def _restore_ledger_entries(settings, ledger: Ledger, kept: dict[str, BatchRecord]) -> None:
    """Ledger entries of the version's batches, once their data is restored; a landing
    copy of such a batch (re-queued by an earlier checkout) is no longer pending."""
    lake = settings.lake
    for name, record in kept.items():
        ledger.batches[name] = record
        landing = lake.local("landing", name)
        if landing.is_dir() and quarantine.file_hashes(landing) == record.files:
            shutil.rmtree(landing)
    ledger.save(ledger_url(settings))


def _backup_folder(lake, version: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    folder = lake.local("state", "checkout-backups", f"{stamp}-{version}")
    folder.mkdir(parents=True)
    return folder


def _move(source: Path, destination: Path) -> bool:
    if not source.exists():
        return False
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.rename(source, destination)
    return True


class Workspace:
    """The lake root as a DVC workspace: init, remote, subprocess calls."""

    def __init__(self, settings):
        lake = settings.lake
        if not lake.is_local:
            raise ConfigError(f"DVC versioning needs a local lake_root; got {lake.root!r}")
        self.root = Path(lake.root)
        self.lock_path = lake.local("state", "dvc.lock")
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        configured = settings.data.versioning.remote_url
        self.remote_url = configured or str(self.root.parent / "dvc-remote")

    def check_target(self, target: str) -> None:
        path = (self.root / target).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise RecaugError(f"version target {target!r} must be a path inside the lake {self.root}")
        if not path.exists():
            raise RecaugError(f"version target {target!r} does not exist in the lake {self.root}")

    def unversioned(self, targets) -> list[str]:
        """Targets whose workspace data no version holds: never versioned, or changed
        since their .dvc file was last written (`dvc status`)."""
        found = [t for t in targets if (self.root / t).exists() and not (self.root / self.dvc_file(t)).exists()]
        tracked = [t for t in targets if (self.root / t).exists() and (self.root / self.dvc_file(t)).exists()]
        if tracked:
            changed = json.loads(self.dvc("status", "--json", *(self.dvc_file(t) for t in tracked)) or "{}")
            found += [t for t in tracked if self.dvc_file(t) in changed]
        return sorted(found)

    def dvc_file(self, target: str) -> str:
        return f"{target.rstrip('/')}.dvc"

    def read_target(self, target: str) -> TargetVersion:
        dvc_file = self.dvc_file(target)
        text = (self.root / dvc_file).read_text(encoding="utf-8")
        out = (yaml.safe_load(text) or {}).get("outs", [{}])[0]
        return TargetVersion(md5=out["md5"], size=out.get("size"), nfiles=out.get("nfiles"), dvc_file=dvc_file, dvc_text=text)

    def ensure(self) -> None:
        """`dvc init --no-scm` once; quiet, analytics off; the configured default remote."""
        if not (self.root / ".dvc").is_dir():
            self.dvc("init", "--no-scm", "--quiet")
            self.dvc("config", "core.analytics", "false")
            self.dvc("config", "core.check_update", "false")
        if self._configured_remote() != self.remote_url:
            if "://" not in self.remote_url:
                Path(self.remote_url).mkdir(parents=True, exist_ok=True)
            self.dvc("remote", "add", "--default", "--force", REMOTE_NAME, self.remote_url)

    def _configured_remote(self) -> str | None:
        import configparser

        parser = configparser.ConfigParser()
        parser.read(self.root / ".dvc" / "config")
        section = f"'remote \"{REMOTE_NAME}\"'"
        return parser.get(section, "url", fallback=None)

    def dvc(self, *args: str) -> str:
        env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_IGNORE_ISATTY": "1"}
        command = [sys.executable, "-m", "dvc", *args]
        log.debug("running %s in %s", " ".join(command[2:]), self.root)
        done = subprocess.run(command, cwd=self.root, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip()
            raise VersioningError(f"dvc {' '.join(args[:1])} failed in {self.root} (exit {done.returncode}): {message}")
        return done.stdout
