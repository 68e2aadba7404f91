"""Fixtures of the production-configuration tests: the machine's real services.

CI (`.ci/run`) exports the service addresses; without them a test skips and says
which variable is missing. The services themselves are never mocked.
"""

from __future__ import annotations

import pytest

from production_services import POSTGRES_ENV, REDIS_ENV, service_url


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
    return service_url(POSTGRES_ENV)
