"""DVC versioning of the data lake: accepted batches and derived datasets.

The lake root is the DVC workspace, initialised with `dvc init --no-scm`: the lake
usually sits inside (or outside) some git checkout that must not receive data
commits, and a version does not need git to be restored. Each `version_data` run
`dvc add`s and `dvc push`es its targets and writes manifests/<run>.json holding every
target's hash and the full text of its .dvc file; `checkout_version` writes those .dvc
files back and runs `dvc pull --force`, which restores the bytes from the cache or the
remote. DVC runs as a subprocess of this interpreter (`python -m dvc`), one at a time
per workspace (a file lock in state/).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from recaug import io
from recaug.errors import ConfigError, RecaugError

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


class VersionManifest(BaseModel):
    version: str = Field(description="run id, or data-<hash> when none was given")
    created_at: str
    remote: str
    targets: dict[str, TargetVersion] = Field(default_factory=dict)

    def hashes(self) -> dict[str, str]:
        return {target: v.md5 for target, v in self.targets.items()}


class CheckoutResult(BaseModel):
    version: str
    restored: dict[str, str] = Field(description="target -> md5 now in the workspace")


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
        dvc_files = [workspace.dvc_file(t) for t in targets]
        workspace.dvc("push", "--quiet", "--remote", REMOTE_NAME, *dvc_files)
        versions = {t: workspace.read_target(t) for t in targets}
        run_id = settings.run_id or "data-" + io.content_hash(*(f"{t}={v.md5}" for t, v in versions.items()))[:12]
        url = settings.lake.url("manifests", f"{run_id}.json")
        if io.exists(url):
            previous = VersionManifest.model_validate(io.read_json(url))
            if previous.hashes() == {t: v.md5 for t, v in versions.items()}:
                log.info("data unchanged since version %s; manifest kept", run_id)
                return previous
            log.warning("run %s versioned again with different data; its manifest is replaced", run_id)
        manifest = VersionManifest(
            version=run_id, created_at=datetime.now(timezone.utc).isoformat(), remote=workspace.remote_url, targets=versions
        )
        io.write_json(url, manifest.model_dump(mode="json"))
    log.info("versioned %d target(s) as %s (remote %s)", len(targets), run_id, workspace.remote_url)
    return manifest


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


def checkout_version(settings, version: str) -> CheckoutResult:
    """Restore every target of `version` byte for byte (other tracked data is left alone)."""
    from filelock import FileLock

    manifest = load_version(settings, version)
    workspace = Workspace(settings)
    with FileLock(str(workspace.lock_path)):
        workspace.ensure()
        for target, tv in manifest.targets.items():
            io.write_text(str(workspace.root / tv.dvc_file), tv.dvc_text)
        workspace.dvc("pull", "--quiet", "--force", "--remote", REMOTE_NAME, *(tv.dvc_file for tv in manifest.targets.values()))
        restored = {t: workspace.read_target(t).md5 for t in manifest.targets}
    mismatched = {t for t, md5 in restored.items() if md5 != manifest.targets[t].md5}
    if mismatched:
        raise VersioningError(f"checkout of {version} left {sorted(mismatched)} at unexpected hashes")
    log.info("checked out data version %s (%d targets)", version, len(restored))
    return CheckoutResult(version=version, restored=restored)


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
