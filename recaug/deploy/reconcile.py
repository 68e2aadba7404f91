"""Make Triton serve exactly what the deploy records say is live.

A deploy that died half way (its process killed, or Triton killed under it) can leave
behind a version that never passed its smoke test (in the model repository, or loaded
and serving), a staging candidate, or a record still saying "in progress". Reconciling
removes every version of the model that no successful deploy record names (a challenger's
only while its experiment runs), puts the live version's (and the running challenger's) files
and config back when they are missing or were replaced, closes
interrupted records as rejected, and makes the running server load what is left.

It runs before the local server starts (so `--load-model=*` loads only checked versions)
and at the start of every deploy, always while holding the deploy lock.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from recaug import io

if TYPE_CHECKING:
    from recaug.deploy.deploy import DeployRecord
    from recaug.deploy.target import TritonTarget
    from recaug.settings import Settings

log = logging.getLogger(__name__)


class ReconcileResult(BaseModel):
    model_name: str
    live_version: int | None = Field(None, description="version the deploy records say is live")
    removed_versions: list[int] = Field(default_factory=list, description="versions without a successful deploy")
    restored_live: bool = Field(False, description="the live version's files or config were written back")
    removed_candidate: bool = False
    closed_records: list[int] = Field(default_factory=list, description="versions whose in-progress record was closed")
    reloaded: bool = Field(False, description="the running server was told to re-read the model")

    @property
    def changed(self) -> bool:
        return bool(self.removed_versions or self.restored_live or self.removed_candidate)


def reconcile_repository(settings: "Settings", repository: str | Path) -> ReconcileResult:
    """Bring the local model repository in line with the deploy records (no server needed)."""
    from recaug.deploy.deploy import CANDIDATE_SUFFIX, challenger_record, kept_versions, list_records, live_record
    from recaug.deploy.repository import LocalRepository

    name = settings.deploy.model_name
    repo = LocalRepository(repository)
    records = list_records(settings, name)
    live = live_record(settings)
    result = ReconcileResult(model_name=name, live_version=live.version if live else None)
    checked = kept_versions(settings, records)
    for version in repo.versions(name):
        if version not in checked:
            repo.remove_version(name, version)
            result.removed_versions.append(version)
    if (repo.root / (name + CANDIDATE_SUFFIX)).exists():
        repo.remove_model(name + CANDIDATE_SUFFIX)
        result.removed_candidate = True
    if live is None:
        repo.remove_model(name)
    elif live.target.startswith("local:"):
        result.restored_live = _restore_live(settings, repo, live)
        challenger = challenger_record(settings)
        if challenger is not None and challenger.target.startswith("local:"):
            result.restored_live = _restore_live(settings, repo, challenger) or result.restored_live
    result.closed_records = _close_interrupted(settings, records)
    if result.changed or result.closed_records:
        log.warning("reconcile %s: live version %s; removed unchecked versions %s%s%s; closed interrupted deploys %s",
                    name, result.live_version, result.removed_versions or "none",
                    "; restored the live version's files" if result.restored_live else "",
                    "; removed the staging candidate" if result.removed_candidate else "", result.closed_records or "none")
    return result


def reconcile_before_start(settings: "Settings", repository: str | Path) -> ReconcileResult | None:
    """The repository half, for the local server's start; skipped while a deploy runs (it
    reconciles itself and owns the repository until it finishes)."""
    from recaug.deploy.deploy import deploy_lock

    with deploy_lock(settings, blocking=False) as held:
        if not held:
            log.info("reconcile skipped: a deploy is running on this lake and will reconcile itself")
            return None
        return reconcile_repository(settings, repository)


def reconcile_running(settings: "Settings") -> ReconcileResult | None:
    """Repository and loaded versions of the running local server; skipped while a deploy runs."""
    from recaug.deploy.deploy import deploy_lock
    from recaug.deploy.local import LocalTarget

    with deploy_lock(settings, blocking=False) as held:
        if not held:
            log.info("reconcile skipped: a deploy is running on this lake and will reconcile itself")
            return None
        return reconcile_target(settings, LocalTarget.from_settings(settings))


def reconcile_target(settings: "Settings", target: "TritonTarget") -> ReconcileResult:
    """Reconcile the repository (local target) and the running server's loaded versions."""
    from recaug.deploy.deploy import CANDIDATE_SUFFIX, challenger_record, kept_versions, live_record
    from recaug.deploy.local import LocalTarget

    name = settings.deploy.model_name
    if not isinstance(target, LocalTarget):
        return _reconcile_remote(settings, target)
    result = reconcile_repository(settings, target.repository.root)
    live = live_record(settings)
    loaded = target.loaded_versions(name)
    stray = loaded - kept_versions(settings)
    if target.loaded_versions(name + CANDIDATE_SUFFIX):
        target.discard(name + CANDIDATE_SUFFIX)
        result.removed_candidate = True
    challenger = challenger_record(settings)
    missing = live is not None and live.version not in loaded or challenger is not None and challenger.version not in loaded
    if result.changed or stray or missing:
        target.reload(name)
        result.reloaded = True
        log.info("reconcile %s: Triton re-read the repository (unloaded %s, live version %s)",
                 name, sorted(stray) or "nothing", live.version if live else None)
    return result


def _reconcile_remote(settings: "Settings", target: "TritonTarget") -> ReconcileResult:
    """A remote server has no folder to clean: push the live version again over an interrupted one."""
    from recaug.deploy.deploy import list_records, live_record, previous_release

    name = settings.deploy.model_name
    records = list_records(settings, name)
    live = live_record(settings)
    result = ReconcileResult(model_name=name, live_version=live.version if live else None)
    for record in records:
        if record.outcome == "in_progress":
            target.retract(name, record.version, previous_release(settings, target, live))
            result.removed_versions.append(record.version)
    result.closed_records = _close_interrupted(settings, records)
    return result


def _restore_live(settings: "Settings", repo, live: "DeployRecord") -> bool:
    """Write back a served version's folder and the model's config from its artifact when they differ."""
    from recaug.deploy.deploy import served_config
    from recaug.deploy.repository import to_pbtxt, version_files
    from recaug.export.onnx import ONNX_FILE, load_export

    name = live.model_name
    if not io.exists(io.join(live.artifact_dir, ONNX_FILE)):
        log.error("reconcile %s: the live version %d's artifact %s is gone; cannot restore it",
                  name, live.version, live.artifact_dir)
        return False
    document = load_export(live.artifact_dir)
    restored = False
    if live.version not in repo.versions(name):
        repo.write_version(name, live.version, version_files(live.artifact_dir, live.model_format))
        restored = True
    config = to_pbtxt(served_config(settings, name, live.model_format, document))
    if repo.config_text(name) != config:
        repo.write_config(name, config)
        restored = True
    return restored


def _close_interrupted(settings: "Settings", records: list["DeployRecord"]) -> list[int]:
    """In-progress records whose deploy process is gone become rejected, saying so."""
    from recaug.deploy.deploy import now_iso, write_record

    closed = []
    for record in records:
        if record.outcome == "in_progress":
            write_record(settings, record.model_copy(update={
                "outcome": "rejected", "stage": "interrupted",
                "reason": f"the deploy stopped before its smoke test finished (process killed or Triton died); "
                          f"version {record.version} was retracted by reconcile at {now_iso()}",
            }))
            closed.append(record.version)
    return closed
