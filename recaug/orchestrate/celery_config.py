"""Celery configuration of the celery profile (`[celery] celery_config_options`).

Airflow's defaults plus extended results: the result backend (PostgreSQL) then records,
for every workload, the Celery worker that ran it and the queue it came from, so
"which worker ran this task" is a join of task_instance.external_executor_id with
celery_taskmeta.task_id instead of a search through worker logs.
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "result_extended": True}
