"""Addresses of the machine's services and helpers shared by the production tests."""

from __future__ import annotations

import os
import secrets
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REDIS_ENV = "RECAUG_TEST_REDIS_URL"
POSTGRES_ENV = "RECAUG_TEST_POSTGRES_URL"
RABBITMQ_ENV = "RECAUG_TEST_RABBITMQ_ADDRESS"  # host:port of the AMQP listener

# The feature-store tests' small marketplace (tests/integration/features/feature_market.py)
# is reused as is: the same data the SQLite tests use.
FEATURE_TESTS = str(Path(__file__).resolve().parents[1] / "features")
if FEATURE_TESTS not in sys.path:
    sys.path.append(FEATURE_TESTS)


def service_url(variable: str) -> str:
    url = os.environ.get(variable)
    if not url:
        pytest.skip(f"{variable} is not set: export it (see .ci/run) to run this test against the real service")
    return url


def require_tcp(variable: str, host: str, port: int, timeout_s: float = 5.0) -> None:
    """Fail (never skip) when a service whose address is set does not accept connections."""
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        pytest.fail(f"{variable} is set ({host}:{port}) but nothing accepts connections there: {exc}")


def unique_name(prefix: str) -> str:
    """A name no other test run (or engineer on the same services) uses."""
    return f"{prefix}_{secrets.token_hex(4)}"


def feast_redis_connection_string(url: str) -> str:
    """Feast's Redis form (`host:port,db=N,password=...`) of a `redis://` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"{url!r}: expected a redis:// or rediss:// URL")
    options = [f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"]
    db = parts.path.strip("/")
    if db:
        options.append(f"db={int(db)}")
    if parts.username:
        options.append(f"username={parts.username}")
    if parts.password:
        options.append(f"password={parts.password}")
    if parts.scheme == "rediss":
        options.append("ssl=true")
    return ",".join(options)
