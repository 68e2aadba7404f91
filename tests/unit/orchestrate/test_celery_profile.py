"""The celery profile's environment: every service from its variable, a missing or malformed
one named (never its value: it may hold a password), the GPU queue `gpu` unless set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from recaug.errors import ConfigError
from recaug.orchestrate.celery_profile import celery_env

SERVICES = {
    "RECAUG_AIRFLOW_DB_URL": "postgresql://airflow:s3cret@db.internal:5432/airflow",
    "RECAUG_BROKER_URL": "amqp://recaug:s3cret@mq.internal:5672/recaug",
    "RECAUG_REDIS_URL": "redis.internal:6379,db=0,password=s3cret",
}


def test_every_process_gets_the_executor_the_services_and_the_gpu_queue():
    env = celery_env(SERVICES)
    database = "postgresql+psycopg2://airflow:s3cret@db.internal:5432/airflow"  # psycopg2: the driver installed
    assert env == {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        "AIRFLOW__CELERY__BROKER_URL": SERVICES["RECAUG_BROKER_URL"],
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database}",
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "recaug.orchestrate.celery_config.CELERY_CONFIG",
        "RECAUG_FEATURES__ONLINE_STORE__TYPE": "redis",
        "RECAUG_AIRFLOW_GPU_QUEUE": "gpu",
    }
    assert celery_env({**SERVICES, "RECAUG_AIRFLOW_GPU_QUEUE": "a100"})["RECAUG_AIRFLOW_GPU_QUEUE"] == "a100"
    assert celery_env({**SERVICES, "RECAUG_BROKER_URL": "redis://127.0.0.1:6379/2"})["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/2"


@pytest.mark.parametrize("variable, value, named", [
    ("RECAUG_AIRFLOW_DB_URL", "", "RECAUG_AIRFLOW_DB_URL is not set"),
    ("RECAUG_BROKER_URL", " ", "RECAUG_BROKER_URL is not set"),
    ("RECAUG_REDIS_URL", "", "RECAUG_REDIS_URL is not set"),
    ("RECAUG_AIRFLOW_DB_URL", "sqlite:////tmp/s3cret.db", "names a 'sqlite' database"),
    ("RECAUG_AIRFLOW_DB_URL", "not a url s3cret", "is not a SQLAlchemy URL"),
    ("RECAUG_BROKER_URL", "mq.internal:5672", "must be an amqp:// (RabbitMQ) or redis:// URL"),
    ("RECAUG_REDIS_URL", "redis://:s3cret@redis.internal:6379/0", "Feast's connection string"),
])
def test_a_missing_or_malformed_service_is_named_without_its_value(variable, value, named):
    with pytest.raises(ConfigError) as error:
        celery_env({**SERVICES, variable: value})
    assert variable in str(error.value) and named in str(error.value)
    assert "s3cret" not in str(error.value)


def test_the_command_prints_shell_exports_or_fails_naming_the_variable():
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RECAUG_")}, **SERVICES}
    printed = subprocess.run([sys.executable, "-m", "recaug.orchestrate.celery_profile"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert printed.returncode == 0, printed.stderr
    assert "export AIRFLOW__CORE__EXECUTOR=CeleryExecutor\n" in printed.stdout
    missing = subprocess.run([sys.executable, "-m", "recaug.orchestrate.celery_profile"],
                             env={**env, "RECAUG_BROKER_URL": ""}, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stdout == ""
    assert "RECAUG_BROKER_URL is not set" in missing.stderr
