"""Deploy stage: put an exported model in front of Triton, or leave the old one serving.

1. The new version is loaded under a staging name (`<model>__candidate`) and must answer
   export.json's reference request with the same top-K; the live model is untouched.
2. An "in progress" record is written, then the version is published as the next version
   of the live model and checked again; on any failure it is retracted so that the
   previous version serves again, and the record says "rejected".
Only a record with outcome "deployed" makes a version live: it is the one source of truth
for what serves (the gateway and the gate read it). A deploy killed half way, or a Triton
that died under it, leaves an "in progress" record and maybe an unchecked version; the
next deploy or server start reconciles them away (recaug.deploy.reconcile).
Every attempt writes deploy/records/<time>-v<version>.json. Deploying the model that is
already live (same model.onnx hash) is a no-op.

A version deployed with role "challenger" goes through the same steps but does not become
live: it starts an online experiment (recaug.experiments) in which the gateway serves it to
a share of users next to the champion; it becomes the champion only through a champion
record (`recaug experiment conclude`). Deploying a new challenger or a new champion stops the
running experiment, and reconcile then removes the old challenger's version.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import TYPE_CHECKING, Iterator, Literal

from pydantic import BaseModel, Field

from recaug import io
from recaug.deploy.client import infer_http, triton_client, wait_until_ready
from recaug.deploy.repository import model_config, version_files
from recaug.deploy.target import TritonTarget, target_from_settings
from recaug.errors import RecaugError
from recaug.export.onnx import ONNX_FILE, load_export, same_ranking
from recaug.models.artifact import VOCAB_FILE

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)
CANDIDATE_SUFFIX = "__candidate"
Role = Literal["champion", "challenger"]


class DeployFailed(RecaugError):
    """The new version was rejected; the previous version keeps serving."""


class SmokeResult(BaseModel):
    passed: bool
    ids_equal: bool
    max_abs_score_diff: float
    detail: str = ""


class DeployRecord(BaseModel):
    model_name: str
    version: int
    deployed_at: str = Field(description="UTC time of the attempt (ISO 8601)")
    model_sha256: str
    artifact_dir: str
    target: str = Field(description="target type and HTTP address")
    model_format: str
    outcome: Literal["deployed", "rejected", "unchanged", "in_progress"] = Field(
        description="deployed: live (the only outcome that is); in_progress: being published, not yet checked")
    stage: str = Field("", description="where a rejected version failed: integrity, candidate, promote or interrupted")
    vocab_sha256: str = Field("", description="sha256 of the artifact's item_vocab.json (decodes this version's ids)")
    smoke: SmokeResult | None = None
    reason: str = ""
    previous_version: int | None = None
    role: Role = Field("champion", description="champion: what serves everyone; challenger: served to an "
                       "experiment's share of users (recaug.experiments)")


def deploy(settings: "Settings", artifact_dir: str, role: Role = "champion") -> DeployRecord:
    """Serve `artifact_dir`'s model.onnx as the next version of settings.deploy.model_name
    (as the champion, or as the challenger of a new experiment)."""
    with deploy_lock(settings):
        return _deploy(settings, artifact_dir, role)


@contextlib.contextmanager
def deploy_lock(settings: "Settings", blocking: bool = True) -> Iterator[bool]:
    """One deploy (or reconcile) per lake at a time: version numbers, rollback and the
    in-progress record assume it. Yields whether the lock is held (always, when blocking);
    the OS drops it when the holder dies. Local lakes only."""
    if not settings.lake.is_local:
        yield True
        return
    import fcntl

    path = settings.lake.local("deploy", "deploy.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _deploy(settings: "Settings", artifact_dir: str, role: Role) -> DeployRecord:
    from recaug.deploy.reconcile import reconcile_target
    from recaug.experiments.store import end_running, start_experiment

    name = settings.deploy.model_name
    document = load_export(artifact_dir)
    model_sha256 = io.sha256_file(io.join(artifact_dir, ONNX_FILE))
    target = target_from_settings(settings)
    current = live_record(settings)
    if role == "challenger":
        _check_challenger(current, artifact_dir, model_sha256)
        end_running(settings, f"replaced by a new challenger ({artifact_dir})")  # reconcile removes its version
    try:
        reconcile_target(settings, target)
    except Exception as exc:  # a server that cannot even be reconciled cannot take a new version
        raise DeployFailed(f"deploy of {artifact_dir} not started: {_reason(exc, target)}") from exc
    vocab = io.join(artifact_dir, VOCAB_FILE)
    base = dict(model_name=name, model_sha256=model_sha256, artifact_dir=str(artifact_dir),
                target=f"{settings.deploy.target.type}:{target.http_url}", model_format=target.model_format,
                previous_version=current.version if current else None,
                vocab_sha256=io.sha256_file(vocab) if io.exists(vocab) else "", role=role)

    if (role == "champion" and current is not None and current.model_sha256 == model_sha256
            and _ready(target, name, current.version)):
        log.info("deploy: %s version %d already serves model %s; nothing to do", name, current.version, model_sha256[:12])
        return current.model_copy(update={"outcome": "unchanged"})

    version = target.next_version(name, max((r.version for r in list_records(settings, name)), default=0))
    if model_sha256 != document.get("model_sha256"):
        _fail(settings, DeployRecord(**base, version=version, deployed_at=now_iso(), outcome="rejected",
                                     stage="integrity", reason=f"{artifact_dir}/{ONNX_FILE} does not match the hash "
                                     "in export.json (modified after export?); re-run `recaug export`"))
    files = version_files(artifact_dir, target.model_format)

    candidate = name + CANDIDATE_SUFFIX
    try:
        smoke = _publish_and_check(settings, target, candidate, version, files, document)
    except Exception as exc:  # any failure here leaves the live model untouched
        smoke, reason = None, _reason(exc, target)
    else:
        reason = "" if smoke.passed else f"smoke test failed: {smoke.detail}"
    finally:
        _discard_quietly(target, candidate)
    if reason:
        _fail(settings, DeployRecord(**base, version=version, deployed_at=now_iso(), outcome="rejected",
                                     stage="candidate", smoke=smoke, reason=reason),
              triton_down=not target.server_alive())

    # Written before the version reaches the live name: if this process dies before the
    # smoke test passes, the record says so and reconcile retracts the unchecked version.
    intent = DeployRecord(**base, version=version, deployed_at=now_iso(), outcome="in_progress", stage="promote",
                          reason="published under the live name; smoke test not finished")
    write_record(settings, intent)
    smoke = None
    try:
        smoke = _publish_and_check(settings, target, name, version, files, document)
        reason = "" if smoke.passed else f"smoke test failed: {smoke.detail}"
    except Exception as exc:  # whatever failed, the previous version must serve again
        reason = _reason(exc, target)
    if reason:
        reason += _roll_back(settings, target, name, version, current)
        _fail(settings, intent.model_copy(update={"outcome": "rejected", "smoke": smoke, "reason": reason}),
              triton_down=not target.server_alive())

    record = intent.model_copy(update={"outcome": "deployed", "stage": "", "smoke": smoke, "reason": ""})
    write_record(settings, record)
    try:
        target.after_success(name, settings.deploy.keep_versions)
    except OSError as exc:  # pruning old version folders is housekeeping; the deploy stands
        log.warning("deploy: could not prune old versions of %s: %s", name, exc)
    if role == "challenger":
        experiment = start_experiment(settings, current.version, version, artifact_dir)
        log.info("deploy: %s version %d serves as challenger in %s (%s)", name, version,
                 experiment.experiment_id, target.http_url)
        return record
    if end_running(settings, f"champion replaced by version {version}") is not None:
        reconcile_quietly(settings, target)  # the stopped challenger's version goes now
    log.info("deploy: %s version %d is live (%s)", name, version, target.http_url)
    return record


def reconcile_quietly(settings: "Settings", target: TritonTarget) -> None:
    """Reconcile now, after a change that stopped an experiment; a failure only delays it."""
    from recaug.deploy.reconcile import reconcile_target

    try:
        reconcile_target(settings, target)
    except Exception as exc:  # housekeeping after the deploy stood; the next deploy or start reconciles
        log.warning("deploy: could not remove the stopped challenger's version now (%s: %s)", type(exc).__name__, exc)


def _check_challenger(current: DeployRecord | None, artifact_dir: str, model_sha256: str) -> None:
    if current is None:
        raise DeployFailed(f"cannot deploy {artifact_dir} as a challenger: no champion is live to compare it with; "
                           "deploy a champion first (`recaug deploy` without --as-challenger)")
    if current.model_sha256 == model_sha256:
        raise DeployFailed(f"cannot deploy {artifact_dir} as a challenger: it is the live champion's model "
                           f"(version {current.version})")


def smoke_test(client, name: str, version: int | None, document: dict, tolerance: float) -> SmokeResult:
    """Replay export.json's reference request and compare the top-K with the recorded one."""
    import numpy as np

    reference = document["reference"]
    outputs = infer_http(client, name, reference, version)
    expected_ids, expected_scores = np.asarray(reference["top_ids"]), np.asarray(reference["top_scores"], dtype=np.float32)
    if outputs["top_ids"].shape != expected_ids.shape:
        return SmokeResult(passed=False, ids_equal=False, max_abs_score_diff=float("inf"),
                           detail=f"top_ids shape {outputs['top_ids'].shape}, expected {expected_ids.shape}")
    finite = np.isfinite(expected_scores)
    ids_equal = bool(np.array_equal(outputs["top_ids"][finite], expected_ids[finite]))
    ranking_equal = same_ranking(expected_ids, expected_scores, outputs["top_ids"], outputs["top_scores"], tolerance)
    diff = float(np.max(np.abs(outputs["top_scores"][finite] - expected_scores[finite]), initial=0.0))
    passed = ranking_equal and diff <= tolerance
    detail = "" if passed else (f"top-K ids equal: {ids_equal} (up to ties: {ranking_equal}), "
                                f"max |score diff| {diff:.3g} (tolerance {tolerance:g})")
    return SmokeResult(passed=passed, ids_equal=ids_equal, max_abs_score_diff=diff, detail=detail)


def list_records(settings: "Settings", model_name: str | None = None) -> list[DeployRecord]:
    """Deploy records, oldest first."""
    folder = settings.lake.url("deploy", "records")
    fs, path = io.filesystem(folder)
    if not fs.exists(path):
        return []
    records = []
    for entry in sorted(fs.ls(path, detail=False)):
        if entry.endswith(".json"):
            record = DeployRecord.model_validate_json(fs.cat_file(entry))
            if model_name is None or record.model_name == model_name:
                records.append(record)
    return records


def live_record(settings: "Settings") -> DeployRecord | None:
    """The last successful champion deploy of settings.deploy.model_name (what serves everyone)."""
    deployed = [r for r in list_records(settings, settings.deploy.model_name)
                if r.outcome == "deployed" and r.role == "champion"]
    return deployed[-1] if deployed else None


def challenger_record(settings: "Settings") -> DeployRecord | None:
    """The deployed challenger of the running experiment, if any (a version Triton must keep)."""
    from recaug.experiments.store import running_experiment

    experiment = running_experiment(settings)
    if experiment is None:
        return None
    matching = [r for r in list_records(settings, settings.deploy.model_name)
                if r.outcome == "deployed" and r.role == "challenger" and r.version == experiment.challenger_version]
    return matching[-1] if matching else None


def kept_versions(settings: "Settings", records: list[DeployRecord] | None = None) -> set[int]:
    """Versions that passed a champion deploy, plus the running experiment's challenger: the
    versions reconcile leaves in the repository and loaded."""
    records = list_records(settings, settings.deploy.model_name) if records is None else records
    kept = {r.version for r in records if r.outcome == "deployed" and r.role == "champion"}
    challenger = challenger_record(settings)
    return kept | ({challenger.version} if challenger else set())


def served_config(settings: "Settings", name: str, model_format: str, document: dict):
    """The Triton config of an exported model (its export.json) under `name`."""
    return model_config(name, model_format, settings.deploy.served, int(document["top_k"]),
                        int(document["hidden_size"]), document.get("user_inputs"))


def _publish_and_check(settings, target: TritonTarget, name, version, files, document) -> SmokeResult:
    config = served_config(settings, name, target.model_format, document)
    log.info("deploy: loading %s version %d on %s", name, version, target.http_url)
    target.publish(name, version, config, files)
    with triton_client(target.http_url) as client:
        if not wait_until_ready(client, name, version, settings.deploy.ready_timeout_s, target.server_alive):
            raise DeployFailed(f"{name} version {version} not ready after {settings.deploy.ready_timeout_s:g} s")
        smoke = smoke_test(client, name, version, document, settings.deploy.smoke_tolerance)
    log.info("deploy: smoke test of %s version %d: %s", name, version, "passed" if smoke.passed else smoke.detail)
    return smoke


def _roll_back(settings, target: TritonTarget, name: str, version: int, current: DeployRecord | None) -> str:
    """Retract `version`; returns what the reason should add (empty when the previous version serves)."""
    try:
        target.retract(name, version, previous_release(settings, target, current))
    except Exception as exc:  # Triton gone: the repository is already back; the next start serves it
        live = f"version {current.version}" if current else "no version"
        return (f"; rollback could not reach Triton ({_reason(exc, target)}): version {version} was removed from "
                f"the model repository, so {live} serves when the server is started again")
    if current is not None and not _ready(target, name, current.version):
        return f"; WARNING: previous version {current.version} is not ready after rollback"
    return ""


def previous_release(settings, target: TritonTarget, current: DeployRecord | None):
    """(version, config, files) of the live version, to push back after a failed promote."""
    if current is None or not io.exists(io.join(current.artifact_dir, ONNX_FILE)):
        return None
    config = served_config(settings, settings.deploy.model_name, target.model_format, load_export(current.artifact_dir))
    return current.version, config, version_files(current.artifact_dir, target.model_format)


def _ready(target: TritonTarget, name: str, version: int) -> bool:
    with triton_client(target.http_url, timeout_s=5.0) as client:
        try:
            return bool(client.is_model_ready(name, str(version)))
        except Exception:  # unknown model or unreachable: not ready
            return False


def _discard_quietly(target: TritonTarget, name: str) -> None:
    try:
        target.discard(name)
    except Exception as exc:  # cleanup of the staging model must not hide the real outcome
        log.warning("deploy: could not remove staging model %s: %s", name, exc)


def _fail(settings, record: DeployRecord, triton_down: bool = False) -> None:
    write_record(settings, record)
    if triton_down:
        live = (f"Triton is down: start it again with `recaug serve triton start` and it serves version "
                f"{record.previous_version}" if record.previous_version else "Triton is down; no version was live")
    else:
        live = f"version {record.previous_version} keeps serving" if record.previous_version else "no version was live"
    raise DeployFailed(f"deploy of {record.artifact_dir} as {record.model_name} version {record.version} "
                       f"rejected at {record.stage}: {record.reason} ({live})")


def write_record(settings, record: DeployRecord) -> None:
    """deploy/records/<attempt time>-v<version>.json; the same attempt always writes the same file."""
    stamp = dt.datetime.fromisoformat(record.deployed_at).strftime("%Y%m%dT%H%M%S%fZ")
    io.write_json(settings.lake.url("deploy", "records", f"{stamp}-v{record.version}.json"),
                  record.model_dump(mode="json"))


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def _reason(exc: Exception, target: TritonTarget) -> str:
    """One line: the error, and whether it was Triton itself that went away."""
    message = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {message[0] if message else ''}"[:500]
    if not target.server_alive():
        return f"Triton at {target.http_url} stopped answering ({text})"
    return text
