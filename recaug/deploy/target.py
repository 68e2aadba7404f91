"""Where a model version goes live: the Triton target interface and its factory.

A target knows how to put files in front of Triton and take them away; the deploy
procedure (recaug.deploy.deploy) is the same for every target.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recaug.settings import Settings


class TritonTarget(abc.ABC):
    model_format: str

    @property
    @abc.abstractmethod
    def http_url(self) -> str:
        """host:port of the server's HTTP endpoint."""

    @property
    @abc.abstractmethod
    def grpc_url(self) -> str | None:
        """host:port of the server's gRPC endpoint, if known."""

    @abc.abstractmethod
    def publish(self, name: str, version: int, config, files: dict[str, bytes]) -> None:
        """Make `version` (with these files and this ModelConfig) the newest version of `name` and load it."""

    @abc.abstractmethod
    def retract(self, name: str, version: int, previous: tuple[int, object, dict[str, bytes]] | None) -> None:
        """Undo publish(name, version): serve `previous` (version, config, files) again, or unload."""

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers the server's model-control API requires (empty when it is unrestricted)."""
        return {}

    def server_alive(self) -> bool:
        """Whether the server still answers at all (tells a dead Triton from a failing model)."""
        from recaug.deploy.client import triton_client

        with triton_client(self.http_url, timeout_s=2.0) as client:
            try:
                return bool(client.is_server_live())
            except Exception:  # refused, reset, timed out: not alive
                return False

    def loaded_versions(self, name: str) -> set[int]:
        """Versions of `name` Triton reports READY."""
        from recaug.deploy.client import triton_client

        with triton_client(self.http_url, timeout_s=5.0) as client:
            index = client.get_model_repository_index(headers=self.admin_headers)
        return {int(m["version"]) for m in index
                if m.get("name") == name and m.get("state") == "READY" and str(m.get("version", "")).isdigit()}

    def next_version(self, name: str, recorded: int) -> int:
        """First version number above everything deployed so far."""
        return recorded + 1

    def discard(self, name: str) -> None:
        """Remove a model entirely (the staging candidate)."""
        from recaug.deploy.client import triton_client

        with triton_client(self.http_url) as client:
            client.unload_model(name, headers=self.admin_headers)

    def after_success(self, name: str, keep_versions: int) -> None:
        """Housekeeping once a version is live."""


def target_from_settings(settings: "Settings") -> TritonTarget:
    config = settings.deploy.target
    if config.type == "local":
        from recaug.deploy.local import LocalTarget

        return LocalTarget.from_settings(settings)
    from recaug.deploy.remote import RemoteTarget

    return RemoteTarget(config)
