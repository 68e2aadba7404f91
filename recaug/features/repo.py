"""The Feast repository as recaug uses it: definitions in feature_repo/, state in the lake.

recaug renders `<lake>/feast/feature_store.yaml` from the settings (registry, online
store chosen by `type`, file offline store) and loads the definitions of
feature_repo/ with the environment variables they read (RECAUG_FEAST_DATA, ...) set
from the settings. Nothing in the definitions is tied to one lake.
"""

from __future__ import annotations

import contextlib
import importlib
import io as stdio
import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import yaml

from recaug import io
from recaug.errors import ConfigError
from recaug.features.build import features_url
from recaug.features.config import RedisOnlineStoreConfig

if TYPE_CHECKING:
    from feast import FeatureStore
    from feast.repo_contents import RepoContents

    from recaug.settings import Settings

log = logging.getLogger(__name__)

STORE_YAML = "feature_store.yaml"


class FeastRepo:
    """Paths, configuration and definitions of the Feast store of one lake."""

    def __init__(self, settings: "Settings"):
        self.settings = settings
        self.config = settings.features
        self.definitions_path = self._definitions_path()
        self.state_dir = settings.lake.local("feast")

    def _definitions_path(self) -> Path:
        path = Path(self.config.repo_path) if self.config.repo_path else Path(__file__).resolve().parents[2] / "feature_repo"
        if not (path / "feature_services.py").is_file():
            raise ConfigError(f"{path}: not a recaug Feast repository; set features.repo_path to the feature_repo/ folder")
        return path.resolve()

    @property
    def yaml_path(self) -> Path:
        return self.state_dir / STORE_YAML

    def state_url(self, name: str) -> str:
        return self.settings.lake.url("feast", name)

    def definitions_env(self) -> dict[str, str]:
        """The environment the definitions read (see feature_repo/locations.py)."""
        env = {
            "RECAUG_FEAST_DATA": features_url(self.settings),
            "RECAUG_FEAST_TTL_DAYS": str(self.config.ttl_days),
        }
        if self.config.s3_endpoint_override:
            env["RECAUG_FEAST_S3_ENDPOINT"] = self.config.s3_endpoint_override
        return env

    def store_config(self) -> dict:
        """The content of feature_store.yaml for these settings."""
        online = self.config.online_store
        if isinstance(online, RedisOnlineStoreConfig):
            online_store = {"type": "redis", "connection_string": online.connection_string}
            if online.key_ttl_seconds:
                online_store["key_ttl_seconds"] = online.key_ttl_seconds
        else:
            online_store = {"type": "sqlite", "path": online.path or str(self.state_dir / "online_store.db")}
        return {
            "project": self.config.project,
            "provider": "local",
            "registry": {
                "registry_type": "file",
                "path": self.config.registry_path or str(self.state_dir / "registry.db"),
                "cache_ttl_seconds": 60,
            },
            "online_store": online_store,
            "offline_store": {"type": "file"},
            "entity_key_serialization_version": 3,
        }

    def render(self) -> Path:
        """Write feature_store.yaml into the lake's feast/ folder (only when it changes)."""
        text = "# Rendered by recaug from its settings; edit the settings, not this file.\n" + yaml.safe_dump(
            self.store_config(), sort_keys=False
        )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.yaml_path.is_file() or self.yaml_path.read_text() != text:
            io.write_text(str(self.yaml_path), text)
        return self.yaml_path

    def registry_exists(self) -> bool:
        return io.exists(self.store_config()["registry"]["path"])

    def definition_files(self) -> list[Path]:
        from feast.repo_operations import get_repo_files

        return get_repo_files(self.definitions_path)

    def definitions_hash(self) -> str:
        """Changes when a definition file, the environment they read or the store config changes."""
        parts: list[str] = []
        for path in self.definition_files():
            parts += [str(path.relative_to(self.definitions_path)), path.read_text()]
        parts += [f"{k}={v}" for k, v in sorted(self.definitions_env().items())]
        parts.append(yaml.safe_dump(self.store_config(), sort_keys=True))
        return io.content_hash(*parts)

    def load_definitions(self) -> "RepoContents":
        """Import the definition files the way `feast apply` does (each file a top-level
        module, the repo folder on sys.path), with the environment they read set."""
        from feast import Entity, FeatureService, FeatureView, Project
        from feast.data_source import DataSource
        from feast.feature_view import DUMMY_ENTITY
        from feast.repo_contents import RepoContents

        with self._definitions_importable():
            modules = [
                importlib.import_module(".".join(path.relative_to(self.definitions_path).with_suffix("").parts))
                for path in self.definition_files()
            ]
        found: dict[type, list] = {DataSource: [], Entity: [], FeatureView: [], FeatureService: []}
        for module in modules:
            for obj in vars(module).values():
                for kind, objects in found.items():
                    if isinstance(obj, kind) and not any(obj is known for known in objects):
                        objects.append(obj)
        return RepoContents(
            projects=[Project(name=self.config.project)],
            data_sources=found[DataSource],
            entities=[*found[Entity], DUMMY_ENTITY],
            feature_views=found[FeatureView],
            feature_services=found[FeatureService],
            on_demand_feature_views=[],
            stream_feature_views=[],
            label_views=[],
            permissions=[],
        )

    @contextlib.contextmanager
    def _definitions_importable(self) -> Iterator[None]:
        """Definitions on sys.path and their env vars set; fresh modules each time."""
        saved_env = {k: os.environ.get(k) for k in self.definitions_env()}
        os.environ.update(self.definitions_env())
        sys.path.insert(0, str(self.definitions_path))
        _forget_modules(self.definitions_path)
        try:
            yield
        finally:
            _forget_modules(self.definitions_path)
            sys.path.remove(str(self.definitions_path))
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def open_store(self) -> "FeatureStore":
        from feast import FeatureStore

        self.check_online_store()
        return FeatureStore(repo_path=str(self.state_dir), fs_yaml_file=self.render())

    def check_online_store(self) -> None:
        """Fail with words before Feast does: it reports an unset or URL-shaped Redis
        address as KeyError('port') or a bad int. Never echoes the expanded value
        (it may hold a password)."""
        online = self.config.online_store
        if not isinstance(online, RedisOnlineStoreConfig):
            return
        expected = "host:port[,db=N,password=...,ssl=true] (Feast's Redis connection string)"
        expanded = os.path.expandvars(online.connection_string)
        unset = re.findall(r"\$\{(\w+)\}", expanded)
        if unset:
            raise ConfigError(
                f"features.online_store.connection_string {online.connection_string!r} reads ${unset[0]}, "
                f"which is not set; export {unset[0]} as {expected}"
            )
        scheme = re.match(r"(\w+)://", expanded)
        nodes = [part.strip() for part in expanded.split(",") if "=" not in part]
        if scheme or not nodes or not all(re.fullmatch(r"[^:\s/]+:\d+", node) for node in nodes):
            shape = f"is a {scheme.group(1)}:// URL" if scheme else "does not start with host:port"
            raise ConfigError(
                f"features.online_store.connection_string {online.connection_string!r} {shape} once expanded; "
                f"expected {expected}, e.g. 127.0.0.1:6379,db=15"
            )


def _forget_modules(root: Path) -> None:
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve().is_relative_to(root):
            del sys.modules[name]


@contextlib.contextmanager
def captured_output(logger: logging.Logger) -> Iterator[None]:
    """Feast prints progress to stdout; keep it out of stage output and in the log."""
    buffer = stdio.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield
    finally:
        for line in buffer.getvalue().splitlines():
            if line.strip():
                logger.debug("feast: %s", line.rstrip())

