"""The environment of the `celery` profile of scripts/airflow.sh (`make airflow PROFILE=celery`).

Airflow's CeleryExecutor with the services a deployment already runs, named by
environment variables only so no address or password is written anywhere:

    RECAUG_AIRFLOW_DB_URL   metadata database (SQLAlchemy URL, PostgreSQL), also Celery's results
    RECAUG_BROKER_URL       Celery broker (amqp://... RabbitMQ or redis://... Redis)
    RECAUG_REDIS_URL        Feast's Redis online store (Feast's form host:port,db=N,password=...)

The GPU stages (augment, embed_shard) go to the queue RECAUG_AIRFLOW_GPU_QUEUE (`gpu`
unless set), which only the GPU workers listen to.

    python -m recaug.orchestrate.celery_profile     # prints exports, or names what is missing
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from recaug.errors import ConfigError

DB_URL_ENV = "RECAUG_AIRFLOW_DB_URL"
BROKER_URL_ENV = "RECAUG_BROKER_URL"
REDIS_URL_ENV = "RECAUG_REDIS_URL"
GPU_QUEUE_ENV = "RECAUG_AIRFLOW_GPU_QUEUE"
DEFAULT_GPU_QUEUE = "gpu"
BROKER_SCHEMES = ("amqp", "amqps", "pyamqp", "redis", "rediss")
CELERY_CONFIG = "recaug.orchestrate.celery_config.CELERY_CONFIG"


def required(environ: Mapping[str, str], name: str, what: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: the celery profile needs {what} (see README 'Running at scale')")
    return value


def metadata_url(raw: str) -> str:
    """The database URL with the psycopg2 driver: a bare postgresql:// means psycopg 3 under
    SQLAlchemy 2.1, which is not installed. Never echoes the URL (it may hold a password)."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"{DB_URL_ENV} is not a SQLAlchemy URL (expected postgresql://user:pass@host:5432/db)") from None
    if url.get_backend_name() != "postgresql":
        raise ConfigError(f"{DB_URL_ENV} names a {url.get_backend_name()!r} database: the celery profile keeps "
                          "Airflow's metadata and Celery's results in PostgreSQL")
    return url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def broker_url(raw: str) -> str:
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if scheme not in BROKER_SCHEMES:
        raise ConfigError(f"{BROKER_URL_ENV} must be an amqp:// (RabbitMQ) or redis:// URL, not {scheme or 'a bare address'!r}")
    return raw


def feast_redis(raw: str) -> str:
    if "://" in raw:
        raise ConfigError(f"{REDIS_URL_ENV} is Feast's connection string (host:port,db=N,password=...), not a URL")
    return raw


def celery_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Variables every Airflow process of the profile (API server, scheduler, DAG processor,
    workers and the tasks they run) gets on top of `airflow_env`."""
    database = metadata_url(required(environ, DB_URL_ENV, "Airflow's metadata database on PostgreSQL"))
    broker = broker_url(required(environ, BROKER_URL_ENV, "a Celery broker (RabbitMQ or Redis)"))
    feast_redis(required(environ, REDIS_URL_ENV, "Feast's Redis online store"))
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database}",
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": CELERY_CONFIG,
        "RECAUG_FEATURES__ONLINE_STORE__TYPE": environ.get("RECAUG_FEATURES__ONLINE_STORE__TYPE") or "redis",
        GPU_QUEUE_ENV: environ.get(GPU_QUEUE_ENV) or DEFAULT_GPU_QUEUE,
    }


def main() -> int:
    try:
        env = celery_env(os.environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
