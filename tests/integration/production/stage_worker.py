"""A Celery app whose worker runs recaug stages, as a GPU or CPU worker node would.

Started by test_celery_rabbitmq.py as `celery -A stage_worker worker` in its own
process; the broker address comes from the environment, never from the repository.
"""

from __future__ import annotations

import os

from celery import Celery

BROKER_ENV = "RECAUG_CELERY_BROKER_URL"

app = Celery("recaug_stages", broker=os.environ.get(BROKER_ENV), backend="rpc://")
app.conf.update(
    task_serializer="json", result_serializer="json", accept_content=["json"],
    task_acks_late=True,  # a worker that dies mid-stage leaves the message for another one
    worker_prefetch_multiplier=1,  # stages are long: one at a time per worker
    broker_connection_retry_on_startup=True,
)


def load_settings(overrides: dict):
    """Settings for one task. Exceptions cross the broker as (module, type, args):
    pydantic's ValidationError cannot be rebuilt from those and arrives empty, so it is
    re-raised as recaug's ConfigError with the message in its args."""
    from pydantic import ValidationError

    from recaug.errors import ConfigError
    from recaug.settings import load_settings

    try:
        return load_settings(overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings overrides {overrides}: {exc}") from None


@app.task(name="recaug.data.synthesize")
def synthesize(overrides: dict, out_dir: str) -> dict:
    """`recaug data synth` with settings overrides; returns the stage's JSON summary."""
    from recaug.data.synth import synthesize as run

    return run(load_settings(overrides), out_dir).model_dump(mode="json")
