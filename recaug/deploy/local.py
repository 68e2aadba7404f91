"""The `local` target: version folders in the bundled server's repository + explicit load."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from recaug.deploy.client import TritonUnavailable, triton_client
from recaug.deploy.repository import LocalRepository, to_pbtxt
from recaug.deploy.server import LocalTritonServer, server_process_alive
from recaug.deploy.target import TritonTarget

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)


class LocalTarget(TritonTarget):
    def __init__(self, server: LocalTritonServer):
        self.server = server
        self.model_format = server.config.model_format
        self.repository = LocalRepository(server.repository)
        state = server.read_state()
        if state is None or not server.status().running:
            raise TritonUnavailable(
                f"the local Triton server is not running (state file {server.state_file}); "
                "start it with `recaug serve triton start`"
            )
        self._state = state
        self._replaced_config: dict[str, str | None] = {}

    @classmethod
    def from_settings(cls, settings: "Settings") -> "LocalTarget":
        return cls(LocalTritonServer.from_settings(settings))

    @property
    def http_url(self) -> str:
        return self._state.http_url

    @property
    def grpc_url(self) -> str:
        return self._state.grpc_url

    @property
    def admin_headers(self) -> dict[str, str]:
        return self._state.admin_headers

    def server_alive(self) -> bool:
        return server_process_alive(self._state.pid) and super().server_alive()

    def next_version(self, name: str, recorded: int) -> int:
        return max([recorded, *self.repository.versions(name)]) + 1

    def publish(self, name, version, config, files):
        self._replaced_config[name] = self.repository.config_text(name)
        self.repository.write_version(name, version, files)
        self.repository.write_config(name, to_pbtxt(config))
        with triton_client(self.http_url) as client:
            client.load_model(name, headers=self.admin_headers)

    def retract(self, name, version, previous):
        """The repository is put back first, so a Triton that died meanwhile serves the
        previous version when it starts again; then the running server is told."""
        self.repository.remove_version(name, version)
        if previous is None or not self.repository.versions(name):
            self.repository.remove_model(name)
            with triton_client(self.http_url) as client:
                client.unload_model(name, headers=self.admin_headers)
            return
        replaced = self._replaced_config.get(name)
        self.repository.write_config(name, replaced if replaced is not None else to_pbtxt(previous[1]))
        with triton_client(self.http_url) as client:
            client.load_model(name, headers=self.admin_headers)

    def reload(self, name: str) -> None:
        """Make Triton read `name` from the repository again (versions removed there are unloaded)."""
        with triton_client(self.http_url) as client:
            if self.repository.versions(name):
                client.load_model(name, headers=self.admin_headers)
            else:
                client.unload_model(name, headers=self.admin_headers)

    def discard(self, name):
        try:
            super().discard(name)
        finally:
            self.repository.remove_model(name)

    def after_success(self, name, keep_versions):
        removed = self.repository.prune(name, keep_versions)
        if removed:
            log.info("pruned versions %s of %s from %s", removed, name, self.repository.root)
