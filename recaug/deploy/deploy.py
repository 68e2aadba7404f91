"""Deploy stage: put an exported model in front of Triton, or leave the old one serving.

1. The new version is loaded under a staging name (`<model>__candidate`) and must answer
   export.json's reference request with the same top-K; the live model is untouched.
2. It is then published as the next version of the live model, checked again, and on any
   failure retracted so that the previous version serves again.
Every attempt writes deploy/records/<time>-v<version>.json. Deploying the model that is
already live (same model.onnx hash) is a no-op.
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

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)
CANDIDATE_SUFFIX = "__candidate"


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
    outcome: Literal["deployed", "rejected", "unchanged"]
    stage: str = Field("", description="where a rejected version failed: integrity, candidate or promote")
    smoke: SmokeResult | None = None
    reason: str = ""
    previous_version: int | None = None


def deploy(settings: "Settings", artifact_dir: str) -> DeployRecord:
    """Serve `artifact_dir`'s model.onnx as the next version of settings.deploy.model_name."""
    with _exclusive(settings):
        return _deploy(settings, artifact_dir)


@contextlib.contextmanager
def _exclusive(settings: "Settings") -> Iterator[None]:
    """One deploy per lake at a time (version numbers and rollback assume it); local lakes only."""
    if not settings.lake.is_local:
        yield
        return
    import fcntl

    path = settings.lake.local("deploy", "deploy.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _deploy(settings: "Settings", artifact_dir: str) -> DeployRecord:
    name = settings.deploy.model_name
    document = load_export(artifact_dir)
    model_sha256 = io.sha256_file(io.join(artifact_dir, ONNX_FILE))
    current = live_record(settings)
    target = target_from_settings(settings)
    base = dict(model_name=name, model_sha256=model_sha256, artifact_dir=str(artifact_dir),
                target=f"{settings.deploy.target.type}:{target.http_url}", model_format=target.model_format,
                previous_version=current.version if current else None)

    if current is not None and current.model_sha256 == model_sha256 and _ready(target, name, current.version):
        log.info("deploy: %s version %d already serves model %s; nothing to do", name, current.version, model_sha256[:12])
        return current.model_copy(update={"outcome": "unchanged"})

    version = target.next_version(name, max((r.version for r in list_records(settings, name)), default=0))
    if model_sha256 != document.get("model_sha256"):
        _fail(settings, DeployRecord(**base, version=version, deployed_at=_now(), outcome="rejected",
                                     stage="integrity", reason=f"{artifact_dir}/{ONNX_FILE} does not match the hash "
                                     "in export.json (modified after export?); re-run `recaug export`"))
    files = version_files(artifact_dir, target.model_format)
    top_k, hidden = int(document["top_k"]), int(document["hidden_size"])

    candidate = name + CANDIDATE_SUFFIX
    try:
        smoke = _publish_and_check(settings, target, candidate, version, files, top_k, hidden, document)
    except Exception as exc:  # any failure here leaves the live model untouched
        smoke, reason = None, _reason(exc)
    else:
        reason = "" if smoke.passed else f"smoke test failed: {smoke.detail}"
    finally:
        _discard_quietly(target, candidate)
    if reason:
        _fail(settings, DeployRecord(**base, version=version, deployed_at=_now(), outcome="rejected",
                                     stage="candidate", smoke=smoke, reason=reason))

    smoke = None
    try:
        smoke = _publish_and_check(settings, target, name, version, files, top_k, hidden, document)
        reason = "" if smoke.passed else f"smoke test failed: {smoke.detail}"
    except Exception as exc:  # whatever failed, the previous version must serve again
        reason = _reason(exc)
    if reason:
        target.retract(name, version, _previous_release(settings, target, current))
        restored = current is None or _ready(target, name, current.version)
        reason += "" if restored else f"; WARNING: previous version {current.version} is not ready after rollback"
        _fail(settings, DeployRecord(**base, version=version, deployed_at=_now(), outcome="rejected",
                                     stage="promote", smoke=smoke, reason=reason))

    target.after_success(name, settings.deploy.keep_versions)
    record = DeployRecord(**base, version=version, deployed_at=_now(), outcome="deployed", smoke=smoke)
    _write_record(settings, record)
    log.info("deploy: %s version %d is live (%s)", name, version, target.http_url)
    return record


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
    """The last successful deploy of settings.deploy.model_name (what should be serving)."""
    deployed = [r for r in list_records(settings, settings.deploy.model_name) if r.outcome == "deployed"]
    return deployed[-1] if deployed else None


def _publish_and_check(settings, target: TritonTarget, name, version, files, top_k, hidden, document) -> SmokeResult:
    config = model_config(name, target.model_format, settings.deploy.served, top_k, hidden)
    log.info("deploy: loading %s version %d on %s", name, version, target.http_url)
    target.publish(name, version, config, files)
    with triton_client(target.http_url) as client:
        if not wait_until_ready(client, name, version, settings.deploy.ready_timeout_s):
            raise DeployFailed(f"{name} version {version} not ready after {settings.deploy.ready_timeout_s:g} s")
        smoke = smoke_test(client, name, version, document, settings.deploy.smoke_tolerance)
    log.info("deploy: smoke test of %s version %d: %s", name, version, "passed" if smoke.passed else smoke.detail)
    return smoke


def _previous_release(settings, target: TritonTarget, current: DeployRecord | None):
    """(version, config, files) of the live version, to push back after a failed promote."""
    if current is None or not io.exists(io.join(current.artifact_dir, ONNX_FILE)):
        return None
    document = load_export(current.artifact_dir)
    config = model_config(settings.deploy.model_name, target.model_format, settings.deploy.served,
                          int(document["top_k"]), int(document["hidden_size"]))
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


def _fail(settings, record: DeployRecord) -> None:
    _write_record(settings, record)
    live = f"version {record.previous_version} keeps serving" if record.previous_version else "no version was live"
    raise DeployFailed(f"deploy of {record.artifact_dir} as {record.model_name} version {record.version} "
                       f"rejected at {record.stage}: {record.reason} ({live})")


def _write_record(settings, record: DeployRecord) -> None:
    stamp = dt.datetime.fromisoformat(record.deployed_at).strftime("%Y%m%dT%H%M%S%fZ")
    io.write_json(settings.lake.url("deploy", "records", f"{stamp}-v{record.version}.json"),
                  record.model_dump(mode="json"))


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def _reason(exc: Exception) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}"[:500]
