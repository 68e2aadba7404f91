"""The machine's real services as pytest fixtures, for the production tests and the
Celery end-to-end test (tests/e2e/test_nightly_celery.py imports them).

CI (`.ci/run`) exports the service addresses; without them a test skips and says
which variable is missing; with them set, a service that does not answer fails it.
The services themselves are never mocked. Every fixture that creates something (a
database, a vhost and user) removes it afterwards.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess

import pytest

from production_services import POSTGRES_ENV, RABBITMQ_ENV, REDIS_ENV, require_tcp, service_url, unique_name


@pytest.fixture(scope="session")
def redis_url() -> str:
    return service_url(REDIS_ENV)


@pytest.fixture(scope="module")
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


def rabbitmqctl(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["rabbitmqctl", *args], input=stdin, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]} exited {result.returncode}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def require_rabbitmqctl() -> None:
    """The address is set, so a broker that cannot be managed fails the test instead of skipping it."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail(f"{RABBITMQ_ENV} is set but rabbitmqctl is not on PATH: the test needs it to create "
                    "a throwaway user and vhost on that broker")
    try:
        rabbitmqctl("status")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{RABBITMQ_ENV} is set but rabbitmqctl cannot manage the RabbitMQ node: {exc}")


def require_login(broker_url: str, shown: str) -> None:
    """The throwaway user logs in at the address: the variable names the node rabbitmqctl manages."""
    from kombu import Connection

    try:
        with Connection(broker_url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own errors (socket, AMQP access refused)
        pytest.fail(f"{RABBITMQ_ENV} is set but the broker at {shown} did not let the test user in: {exc}")


@pytest.fixture(scope="module")
def broker_url(rabbitmq_address):
    """amqp:// URL of a throwaway vhost and user on the RabbitMQ at $RECAUG_TEST_RABBITMQ_ADDRESS."""
    require_rabbitmqctl()
    host, port = rabbitmq_address
    user, vhost, password = unique_name("recaug_test"), unique_name("recaug_test"), secrets.token_urlsafe(24)
    rabbitmqctl("add_user", user, stdin=password)  # from stdin: the password never shows in `ps`
    try:
        rabbitmqctl("add_vhost", vhost)
        rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        url = f"amqp://{user}:{password}@{host}:{port}/{vhost}"
        require_login(url, f"{host}:{port}/{vhost}")
        yield url
    finally:
        rabbitmqctl("delete_user", user)
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, timeout=60)
