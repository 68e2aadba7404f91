"""Run the nightly DAG once, in-process, with `dag.test()` (no scheduler, no server).

Used by `make demo` and the end-to-end tests:

    python -m recaug.orchestrate.local_run --home var/demo/airflow --conf '{"epochs": 2}' --json-out run.json

`--retries 0` makes every task fail fast (tests): dag.test() otherwise waits out the
DAG's retry delays before it reports a broken task.

Prints the state of every task, Airflow's wall time per task, and the orchestration
overhead (wall time of the run minus the compute its stage functions did, as recorded
in reports/<run>/tasks/).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from recaug.errors import RecaugError
from recaug.orchestrate.overrides import ForbiddenParam

DAG_ID = "recaug_nightly"
ROOT = Path(__file__).resolve().parents[2]


class TaskOutcome(BaseModel):
    task_id: str
    map_index: int
    state: str | None
    airflow_seconds: float | None = Field(None, description="task instance duration as Airflow measured it")


class LocalRunSummary(BaseModel):
    dag_run_id: str
    run_id: str = Field(description="recaug run id (folder name under reports/ and models/)")
    state: str
    wall_seconds: float = Field(description="dag.test() from start to end, DAG parsing included")
    compute_seconds: float = Field(description="time inside stage functions, summed over tasks")
    overhead_ratio: float = Field(description="(wall - compute) / wall")
    tasks: list[TaskOutcome]
    report_html: str | None = None
    failure_md: str | None = None


def ensure_airflow_db(env: dict[str, str]) -> None:
    """Create the SQLite metadata database once (`airflow db migrate` is idempotent)."""
    if (Path(env["AIRFLOW_HOME"]) / "airflow.db").exists():
        return
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env={**os.environ, **env}, check=True, capture_output=True)


def run_nightly(home: str | os.PathLike, conf: dict[str, Any], project_root: Path = ROOT,
                retries: int | None = None) -> LocalRunSummary:
    """Run the DAG once with `conf` as its Params; `retries` replaces every task's retry
    count when given. Sets the Airflow environment of this process, so call it in a
    process that has not imported airflow yet."""
    from recaug.orchestrate.airflow_env import airflow_env

    env = airflow_env(home, project_root)
    os.environ.update(env)
    ensure_airflow_db(env)
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag
    from airflow.exceptions import ParamValidationError

    bag = DagBag(dag_folder=str(project_root / "dags" / "recaug_nightly.py"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    dag = bag.dags[DAG_ID]
    if retries is not None:
        for task in dag.tasks:
            task.retries = retries
    try:
        dag_run = dag.test(run_conf=conf)
    except ParamValidationError as exc:  # the trigger form's rules (docs/OVERRIDES.md): no run was created
        raise ForbiddenParam(f"run refused before any task ran: {str(exc).splitlines()[0]}") from None
    wall = time.perf_counter() - started
    return summarize(dag_run, conf, wall)


def summarize(dag_run, conf: dict[str, Any], wall: float) -> LocalRunSummary:
    from recaug.orchestrate.overrides import to_overrides
    from recaug.orchestrate.runs import read_records, safe_run_id
    from recaug.settings import load_settings

    run_id = safe_run_id(dag_run.run_id)
    settings = load_settings(to_overrides(dict(conf), run_id, load_settings()))  # Params not in conf default to these settings
    records = read_records(settings.lake, run_id)
    compute = sum(r.compute_seconds for r in records)
    tasks = [
        TaskOutcome(task_id=ti.task_id, map_index=ti.map_index, state=str(ti.state.value if hasattr(ti.state, "value") else ti.state),
                    airflow_seconds=ti.duration)
        for ti in sorted(dag_run.get_task_instances(), key=lambda ti: (ti.start_date is None, ti.start_date or 0, ti.map_index))
    ]
    report = settings.lake.local("reports", run_id, "report.html") if settings.lake.is_local else None
    failure = settings.lake.local("reports", run_id, "failure.md") if settings.lake.is_local else None
    state = dag_run.state.value if hasattr(dag_run.state, "value") else str(dag_run.state)
    return LocalRunSummary(
        dag_run_id=dag_run.run_id, run_id=run_id, state=state, wall_seconds=wall, compute_seconds=compute,
        overhead_ratio=max(wall - compute, 0.0) / wall if wall else 0.0, tasks=tasks,
        report_html=str(report) if report and report.exists() else None,
        failure_md=str(failure) if failure and failure.exists() else None,
    )


def print_summary(summary: LocalRunSummary) -> None:
    print(f"\nDAG run {summary.dag_run_id}: {summary.state}")
    print(f"{'task':<28}{'shard':>6}  {'state':<16}{'seconds':>8}")
    for t in summary.tasks:
        shard = "" if t.map_index < 0 else str(t.map_index)
        seconds = "" if t.airflow_seconds is None else f"{t.airflow_seconds:.1f}"
        print(f"{t.task_id:<28}{shard:>6}  {t.state or '':<16}{seconds:>8}")
    print(f"wall {summary.wall_seconds:.1f} s, stage compute {summary.compute_seconds:.1f} s, "
          f"orchestration overhead {summary.wall_seconds - summary.compute_seconds:.1f} s "
          f"({summary.overhead_ratio:.0%} of wall)")
    if summary.report_html:
        print(f"report: {summary.report_html}")
    if summary.failure_md:
        print(f"failure summary: {summary.failure_md}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="AIRFLOW_HOME (created if missing)")
    parser.add_argument("--conf", default="{}", help="Params of the run as JSON")
    parser.add_argument("--json-out", help="also write the summary as JSON here")
    parser.add_argument("--retries", type=int, help="retries of every task (default: the DAG's own)")
    args = parser.parse_args(argv)
    try:
        summary = run_nightly(args.home, json.loads(args.conf), retries=args.retries)
    except RecaugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print_summary(summary)
    if args.json_out:
        Path(args.json_out).write_text(summary.model_dump_json(indent=2))
    return 0 if summary.state == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
