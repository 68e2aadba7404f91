"""`validate_batch`: the verdict on one landing batch directory (what Airflow calls).

File rules (names, readability, encoding) are checked here; table rules run as GX
suites. The batch is accepted only if every file passes every rule.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recaug import io
from recaug.data.schemas import SCHEMAS
from recaug.validate import frames, suites
from recaug.validate.report import BatchReport, Failure, FileReport

log = logging.getLogger(__name__)

REQUIRED_TABLES = ("interactions",)


@dataclass
class ValidatedBatch:
    """A report plus, when accepted, the canonical tables ready to merge."""

    report: BatchReport
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    runner: object | None = None  # the GreatExpectationsRunner holding the validation results

    def render_data_docs(self, directory: Path) -> Path | None:
        """GX HTML data docs of this validation (None when no table was validated)."""
        if self.runner is None:
            return None
        return self.runner.render_data_docs(directory)


def validate_batch(settings, batch_dir: str | Path, data_docs_dir: Path | None = None) -> BatchReport:
    """Validate `batch_dir` against the suites; writes nothing but the optional data docs."""
    validated = check_batch(settings, Path(batch_dir))
    if data_docs_dir is not None:
        index = validated.render_data_docs(Path(data_docs_dir))
        validated.report.data_docs = str(index) if index else None
    return validated.report


def check_batch(settings, batch_dir: Path) -> ValidatedBatch:
    config = settings.validate_
    now = pd.Timestamp.now(tz="UTC")
    report = BatchReport(batch=batch_dir.name, accepted=False, validated_at=now.isoformat())
    if not batch_dir.is_dir():
        report.failures.append(Failure(file=str(batch_dir), rule="batch directory", details="not a directory"))
        return ValidatedBatch(report)

    landing_files, failures = _discover(batch_dir)
    report.failures += failures
    checks: dict[str, tuple[frames.LandingFile, pd.DataFrame]] = {}
    for landing in landing_files:
        data = landing.path.read_bytes()
        file_report = FileReport(
            file=landing.name, table=landing.table, bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
        )
        report.files.append(file_report)
        if landing.table is None:
            continue
        try:
            raw = frames.read_table(landing.path, data)
        except frames.FileProblem as problem:
            report.failures.append(Failure(file=landing.name, table=landing.table, rule=problem.rule, details=problem.message))
            continue
        file_report.rows = len(raw)
        checks[landing.table] = (landing, frames.check_frame(raw, SCHEMAS[landing.table]))

    known_items = _known_item_ids(settings, checks)
    runner = None
    if checks:
        from recaug.validate.engine import GreatExpectationsRunner

        runner = GreatExpectationsRunner(config.sample_values)
        report.great_expectations_version = runner.version
    for table in ("items", "users", "interactions"):
        if table not in checks:
            continue
        landing, check = checks[table]
        suite = suites.suite_for(table, set(check.columns))
        if not config.require_known_items:
            suite["expectations"] = [e for e in suite["expectations"] if e.get("meta", {}).get("rule") != "unknown item"]
        params = suites.expectation_parameters(config, table, known_items, now)
        report.failures += runner.validate(landing.name, table, check, suite, params)
        log.info("validated %s/%s: %d rows", batch_dir.name, landing.name, len(check))

    report.accepted = not report.failures
    tables = {}
    if report.accepted:
        tables = {table: frames.canonical(check, SCHEMAS[table]) for table, (_, check) in checks.items()}
    return ValidatedBatch(report, tables, runner)


def _discover(batch_dir: Path) -> tuple[list[frames.LandingFile], list[Failure]]:
    failures = []
    found = [frames.classify(p) for p in sorted(batch_dir.iterdir())]
    known = [f for f in found if f.table]
    for unknown in (f for f in found if f.table is None):
        kind = "directory" if unknown.path.is_dir() else "file"
        failures.append(
            Failure(
                file=unknown.name,
                rule="unknown file",
                details=f"unexpected {kind}; a batch holds only "
                + ", ".join(f"{t}.{{parquet,csv}}" for t in SCHEMAS),
            )
        )
    tables = [f.table for f in known]
    for table in set(tables):
        if tables.count(table) > 1:
            names = [f.name for f in known if f.table == table]
            failures.append(Failure(file=", ".join(names), table=table, rule="ambiguous table", details="one file per table"))
    for table in REQUIRED_TABLES:
        if table not in tables:
            failures.append(Failure(file=f"{table}.{{parquet,csv}}", table=table, rule="required file", details="missing"))
    return [f for f in known if f.path.is_file()], failures


def _known_item_ids(settings, checks) -> set[str]:
    known: set[str] = set()
    if "items" in checks:
        known |= set(checks["items"][1]["item_id"].dropna()) if "item_id" in checks["items"][1] else set()
    curated = settings.lake.items
    if io.exists(curated):
        known |= set(io.read_parquet(curated, columns=["item_id"])["item_id"].dropna().astype(str))
    return known
