"""Fixtures of the production-configuration tests: the machine's real services
(defined in service_fixtures.py, which the Celery end-to-end test shares) and a lake
whose Feast online store is the machine's Redis."""

import pytest

from recaug.features.repo import FeastRepo
from recaug.settings import load_settings

from production_services import feast_redis_connection_string, unique_name
from service_fixtures import (  # noqa: F401 (fixtures)
    broker_url, postgres_database, postgres_url, rabbitmq_address, redis_client, redis_url,
)


@pytest.fixture
def redis_settings(settings, tmp_path, redis_url, redis_client, monkeypatch):
    """A second lake whose online store is Redis, configured as docs/PRODUCTION.md
    says: environment variables only; Feast expands $RECAUG_REDIS_URL itself. Each test
    gets its own Feast project (Redis keys end with its name), removed afterwards."""
    project = unique_name("recaug_test")
    monkeypatch.setenv("RECAUG_FEATURES__ONLINE_STORE__TYPE", "redis")
    monkeypatch.setenv("RECAUG_FEATURES__PROJECT", project)
    monkeypatch.setenv("RECAUG_REDIS_URL", feast_redis_connection_string(redis_url))
    redis_settings = load_settings({"lake_root": str(tmp_path / "redis-lake"), "run_id": "test-run"})
    redis_settings.lake.ensure()
    yield redis_settings
    repo = FeastRepo(redis_settings)
    if repo.registry_exists():
        repo.open_store().teardown()
    leftovers = list(redis_client.scan_iter(match=b"*" + project.encode()))
    if leftovers:
        redis_client.delete(*leftovers)
