"""Run one recaug stage function inside an Airflow task.

Settings come from the run's Params (`recaug.orchestrate.overrides.to_overrides`) and the run id from
the DAG run, so every task of a run, and every retry, writes into the same lake
folders. The stage's compute time and result are recorded for the run report.

Every task holds the lake lock while its stage runs, shared with the other tasks of
its run and exclusive against any other run or CLI command (`recaug.lake_lock`); the
run's lease lasts from its first task to its last (`ends_run=True`, the report) or to
a task's final failure (`end_run_lease` in the failure callback).
"""

from __future__ import annotations

from typing import Any, Callable

from airflow.sdk import BaseOperator


def settings_for(context) -> Any:
    """The recaug Settings of this task: Params of the run + run id of the DAG run."""
    from recaug.logs import quiet_third_party
    from recaug.orchestrate.runs import safe_run_id
    from recaug.settings import load_settings
    from recaug.orchestrate.overrides import to_overrides
    from recaug_airflow.nightly_params import current_settings

    quiet_third_party()
    operator = current_settings()  # params.yaml of the checkout + RECAUG_* env, before the form
    run_id = safe_run_id(context["dag_run"].run_id)
    return load_settings(to_overrides(dict(context["params"]), run_id, operator))


def to_jsonable(result: Any) -> Any:
    """Stage results are pydantic models; XCom and the report get their JSON form."""
    if hasattr(result, "model_dump"):
        return result.model_dump(mode="json")
    if isinstance(result, (list, tuple)):
        return [to_jsonable(item) for item in result]
    return result


def lake_claim(context, run_id: str):
    """This task's claim on the lake lock: shared by every task of the DAG run."""
    from recaug.lake_lock import airflow_claim

    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    shard = "" if map_index is None or map_index < 0 else f"[{map_index}]"
    return airflow_claim(run_id, f"{context['dag_run'].dag_id}.{ti.task_id}{shard}")


def run_stage(context, stage: Callable[[Any], Any], ends_run: bool = False) -> Any:
    """Call `stage(settings)` holding the lake lock, record its timing and result, return
    the JSON-able result. `ends_run` marks the run's last task: it ends the run's lease."""
    from recaug.lake_lock import lake_writer
    from recaug.orchestrate.runs import timed_task

    settings = settings_for(context)
    settings.lake.ensure()
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    map_index = -1 if map_index is None else map_index
    with lake_writer(settings, lake_claim(context, settings.run_id), end_run=ends_run):
        with timed_task(settings.lake, settings.run_id, ti.task_id, map_index, ti.try_number) as record:
            record["result"] = to_jsonable(stage(settings))
    return record["result"]


class RecaugStageOperator(BaseOperator):
    """Base of the recaug operators: subclasses implement `run(settings)`."""

    ui_color = "#e8f1fb"

    def run(self, settings) -> Any:
        """Call the stage function; return its result (a pydantic model)."""
        raise NotImplementedError(f"{type(self).__name__} must implement run(settings)")

    def execute(self, context) -> Any:
        return run_stage(context, self.run)
