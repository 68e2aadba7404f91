"""The `remote` target: a Triton reached by URL, fed through its repository API.

No shared filesystem is needed: load_model(name, config=JSON, files={"file:<v>/...": bytes})
hands the server the whole model. Rollback pushes the previous version's files again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recaug.deploy.client import TritonUnavailable, triton_client
from recaug.deploy.repository import to_json
from recaug.deploy.target import TritonTarget

if TYPE_CHECKING:
    from recaug.deploy.config import RemoteTritonConfig


class RemoteTarget(TritonTarget):
    def __init__(self, config: "RemoteTritonConfig"):
        self.config = config
        self.model_format = config.model_format
        with triton_client(config.url, timeout_s=5.0) as client:
            try:
                live = client.is_server_live()
            except Exception as exc:  # connection refused, DNS, timeout: all mean "not reachable"
                raise TritonUnavailable(f"Triton at {config.url} is not reachable: {exc}") from exc
        if not live:
            raise TritonUnavailable(f"Triton at {config.url} reports it is not live")

    @property
    def http_url(self) -> str:
        return self.config.url

    @property
    def grpc_url(self) -> str | None:
        return self.config.grpc_url

    @property
    def admin_headers(self) -> dict[str, str]:
        import os

        name = self.config.admin_key_env
        if not name:
            return {}
        if not os.environ.get(name):
            raise TritonUnavailable(f"deploy.target.admin_key_env names {name}, which is not set")
        return {self.config.admin_header: os.environ[name]}

    def publish(self, name, version, config, files):
        with triton_client(self.http_url) as client:
            client.load_model(name, config=to_json(config), headers=self.admin_headers,
                              files={f"file:{version}/{filename}": data for filename, data in files.items()})

    def retract(self, name, version, previous):
        if previous is None:
            with triton_client(self.http_url) as client:
                client.unload_model(name, headers=self.admin_headers)
            return
        self.publish(name, *previous)
