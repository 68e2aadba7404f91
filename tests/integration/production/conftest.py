"""Fixtures of the production-configuration tests: the machine's real services.

CI (`.ci/run`) exports the service addresses; without them a test skips and says
which variable is missing. The services themselves are never mocked.
"""

from __future__ import annotations

import pytest

from production_services import POSTGRES_ENV, RABBITMQ_ENV, REDIS_ENV, require_tcp, service_url, unique_name


@pytest.fixture(scope="session")
def redis_url() -> str:
    return service_url(REDIS_ENV)


@pytest.fixture
def redis_client(redis_url):
    import redis

    try:
        client = redis.Redis.from_url(redis_url)
        client.ping()
    except ValueError as exc:
        pytest.fail(f"{REDIS_ENV} is set but is not a Redis URL: {exc}")
    except redis.exceptions.RedisError as exc:
        pytest.fail(f"{REDIS_ENV} is set but Redis does not answer there: {exc}")
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


@pytest.fixture(scope="module")
def postgres_database(postgres_url):
    """A fresh database on the test server; yields its SQLAlchemy URL (psycopg2 driver)."""
    import psycopg2
    from sqlalchemy.engine import make_url

    name = unique_name("recaug_airflow")
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres_url).set(drivername="postgresql+psycopg2", database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def rabbitmq_address() -> tuple[str, int]:
    """(host, port) of the AMQP listener named by the variable, checked to accept connections."""
    address = service_url(RABBITMQ_ENV)
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        pytest.fail(f"{RABBITMQ_ENV}={address!r}: expected host:port of the AMQP listener, e.g. 127.0.0.1:5672")
    require_tcp(RABBITMQ_ENV, host, int(port))
    return host, int(port)
