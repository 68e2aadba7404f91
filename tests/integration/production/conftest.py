"""Fixtures of the production-configuration tests: the machine's real services.

CI (`.ci/run`) exports the service addresses; without them a test skips and says
which variable is missing. The services themselves are never mocked.
"""

from __future__ import annotations

import pytest

from production_services import POSTGRES_ENV, RABBITMQ_ENV, REDIS_ENV, require_tcp, service_url


@pytest.fixture(scope="session")
def redis_url() -> str:
    return service_url(REDIS_ENV)


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"{REDIS_ENV}={redis_url} is set but Redis does not answer: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    import psycopg2

    url = service_url(POSTGRES_ENV)
    try:
        psycopg2.connect(url, connect_timeout=5).close()
    except psycopg2.Error as exc:
        pytest.fail(f"{POSTGRES_ENV} is set but PostgreSQL refuses the connection: {str(exc).strip()}")
    return url


@pytest.fixture(scope="session")
def rabbitmq_address() -> tuple[str, int]:
    """(host, port) of the AMQP listener named by the variable, checked to accept connections."""
    address = service_url(RABBITMQ_ENV)
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        pytest.fail(f"{RABBITMQ_ENV}={address!r}: expected host:port of the AMQP listener, e.g. 127.0.0.1:5672")
    require_tcp(RABBITMQ_ENV, host, int(port))
    return host, int(port)
