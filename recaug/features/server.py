"""The Feast feature server (`feast serve`) on a loopback port, and a client for it.

The server reads the same registry and online store as the SDK, so its answers equal
`get_online_features` of the SDK (a test holds both to that).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from recaug.features.errors import FeastStateError

if TYPE_CHECKING:
    from recaug.settings import Settings

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class FeatureServer:
    """`feast serve` as a child process in its own process group."""

    def __init__(self, settings: "Settings", port: int | None = None, host: str | None = None):
        from recaug.features.repo import FeastRepo

        self.repo = FeastRepo(settings)
        self.host = host or settings.features.server_host
        self.port = port or free_port(self.host)
        self.timeout = settings.features.server_start_timeout
        self.process: subprocess.Popen | None = None
        self.log_path = self.repo.state_dir / f"feature_server.{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        feast = Path(sys.executable).with_name("feast")
        return [
            str(feast), "-c", str(self.repo.state_dir), "-f", str(self.repo.render()),
            "serve", "-h", self.host, "-p", str(self.port), "--no-access-log",
            "--workers", "1", "--max-requests", "0",
        ]

    def start(self) -> "FeatureServer":
        if not self.repo.registry_exists():
            raise FeastStateError(f"no Feast registry in {self.repo.state_dir}; run `recaug features apply` first")
        log.info("features: starting feature server on %s (log %s)", self.url, self.log_path)
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                self.command(), stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "FEAST_USAGE": "False"},
            )
        try:
            self.wait_healthy()
        except BaseException:  # includes Ctrl-C / SIGTERM while waiting: never leave the server behind
            self.stop()
            raise
        return self

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise FeastStateError(f"feast serve exited with code {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        raise FeastStateError(f"feast serve did not become healthy on {self.url} within {self.timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM to the whole process group (gunicorn master and workers), then SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> "FeatureServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class FeatureServerClient:
    """A keep-alive client of `feast serve` (one per thread: connections are not shared).

    Pass feature references (`view:feature`, e.g. from `OnlineReader.feature_refs`)
    rather than a feature-service name where latency matters: the server resolves a
    service name from the registry on every request, which costs more than the lookup.
    """

    def __init__(self, url: str, timeout: float = 10.0):
        parsed = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)

    def online_features(
        self, key: str, ids: Sequence[str], feature_service: str | None = None, features: Sequence[str] | None = None
    ) -> dict[str, list]:
        """Columns like the SDK's `to_dict()`: values whose status is not PRESENT are None."""
        if (feature_service is None) == (features is None):
            raise ValueError("pass exactly one of feature_service and features")
        request = {"entities": {key: list(ids)}}
        request.update({"feature_service": feature_service} if feature_service else {"features": list(features)})
        self.connection.request(
            "POST", "/get-online-features", json.dumps(request), {"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise FeastStateError(f"feature server answered {response.status}: {body[:300]!r}")
        payload = json.loads(body)
        return {
            name: [value if status == "PRESENT" or name == key else None
                   for value, status in zip(result["values"], result["statuses"])]
            for name, result in zip(payload["metadata"]["feature_names"], payload["results"])
        }

    def close(self) -> None:
        self.connection.close()
