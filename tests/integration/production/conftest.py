"""Fixtures of the production-configuration tests: the machine's real services
(defined in service_fixtures.py, which the Celery end-to-end test shares)."""

from service_fixtures import (  # noqa: F401 (fixtures)
    broker_url, postgres_database, postgres_url, rabbitmq_address, redis_client, redis_url,
)
