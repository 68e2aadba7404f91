"""`validate_batch`: the verdict on one landing batch directory (what Airflow calls).

File rules (names, kinds, sizes, readability, encoding) are checked here; table rules
run as GX suites. The batch is accepted only if every file passes every rule. Nothing
here follows a link or opens anything but a regular file within the size limit, and no
error in one file escapes as a traceback: it becomes a failure naming the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recaug import io
from recaug.data.schemas import SCHEMAS, TS
from recaug.validate import batch_names, entries, frames, suites
from recaug.validate.report import BatchReport, Failure, FileReport, printable

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


def check_batch(settings, batch_dir: Path, curated_item_ids: set[str] | None = None) -> ValidatedBatch:
    """Validate one batch; `curated_item_ids` (read from curated/ when not given) are the
    items an interaction may refer to besides the batch's own."""
    config = settings.validate_
    now = pd.Timestamp.now(tz="UTC")
    report = BatchReport(batch=printable(batch_dir.name), accepted=False, validated_at=now.isoformat())
    kind = entries.kind_of(batch_dir)
    if kind != entries.DIRECTORY:
        report.failures.append(_not_a_batch(batch_dir, kind))
        return ValidatedBatch(report)
    if not batch_names.is_safe_batch_name(batch_dir.name):
        report.failures.append(
            Failure(file=printable(batch_dir.name), rule="batch name", details=batch_names.UNSAFE_NAME_RULE)
        )

    landing_files, failures = _discover(batch_dir)
    report.failures += failures
    checks: dict[str, tuple[frames.LandingFile, pd.DataFrame]] = {}
    hints: dict[tuple[str, str], str] = {}
    for landing in landing_files:
        size = landing.path.stat().st_size
        file_report = FileReport(
            file=landing.name, table=landing.table, bytes=size,
            sha256=entries.digest(entries.Entry(landing.path, landing.name, entries.FILE)),
        )
        report.files.append(file_report)
        try:
            frames.check_size(size, config)
            raw = frames.read_table(landing.path, landing.path.read_bytes(), config)
            check = frames.check_frame(raw, SCHEMAS[landing.table])
        except frames.FileProblem as problem:
            report.failures.append(Failure(file=landing.name, table=landing.table, rule=problem.rule, details=problem.message))
            continue
        except Exception as exc:  # hostile input must be quarantined with a name, never crash ingest
            log.warning("could not check %s/%s", batch_dir.name, landing.name, exc_info=True)
            report.failures.append(
                Failure(file=landing.name, table=landing.table, rule="unreadable file", details=f"{type(exc).__name__}: {exc}")
            )
            continue
        file_report.rows = len(raw)
        checks[landing.table] = (landing, check)
        hints.update(_epoch_unit_hints(landing.name, raw, SCHEMAS[landing.table], config, now))

    known_items = _known_item_ids(settings, checks, curated_item_ids)
    runner = None
    if checks:
        from recaug.validate.engine import GreatExpectationsRunner

        runner = GreatExpectationsRunner(config.sample_values, settings.privacy.personal_fields)
        report.great_expectations_version = runner.version
    for table in ("items", "users", "interactions"):
        if table not in checks:
            continue
        landing, check = checks[table]
        suite = suites.suite_for(table, set(check.columns))
        if not config.require_known_items:
            suite["expectations"] = [e for e in suite["expectations"] if e.get("meta", {}).get("rule") != "unknown item"]
        params = suites.expectation_parameters(config, table, known_items, now)
        for failure in runner.validate(landing.name, table, check, suite, params):
            hint = hints.get((failure.file, failure.column or "")) if failure.rule == "timestamp range" else None
            if hint:
                failure.details = "; ".join(filter(None, [failure.details, hint]))
            report.failures.append(failure)
        log.info("validated %s/%s: %d rows", batch_dir.name, landing.name, len(check))

    report.accepted = not report.failures
    tables = {}
    if report.accepted:
        tables = {table: frames.canonical(check, SCHEMAS[table]) for table, (_, check) in checks.items()}
    return ValidatedBatch(report, tables, runner)


def _not_a_batch(path: Path, kind: str) -> Failure:
    if kind == entries.SYMLINK:
        return Failure(
            file=printable(path.name), rule="symlink",
            details=f"the batch is a link to {entries.Entry(path, path.name, kind).link_target!r}; links are not followed",
        )
    what = entries.special_kind(path) if kind == entries.SPECIAL else "file"
    return Failure(file=printable(path.name), rule="batch directory", details=f"a {what}, not a directory; a batch is a folder of tables")


def _epoch_unit_hints(file: str, raw: pd.DataFrame, schema, config, now: pd.Timestamp) -> dict[tuple[str, str], str]:
    """(file, column) -> advice, for time columns holding epoch numbers in the wrong unit."""
    hints = {}
    earliest = pd.Timestamp(config.min_timestamp, tz="UTC")
    for column in schema.columns:
        if column.dtype == TS and column.name in raw.columns:
            unit = frames.epoch_unit_hint(raw[column.name], earliest, now)
            if unit:
                hints[(file, column.name)] = (
                    f"the numbers look like epoch {unit}; landing timestamps are epoch seconds or ISO 8601 "
                    f"(`recaug data load --option time_unit=...` converts)"
                )
    return hints


def _discover(batch_dir: Path) -> tuple[list[frames.LandingFile], list[Failure]]:
    failures = []
    found = [frames.classify(p) for p in sorted(batch_dir.iterdir())]
    known = [f for f in found if f.table]
    for unknown in (f for f in found if f.table is None):
        failures.append(_unexpected_entry(unknown.path))
    tables = [f.table for f in known]
    for table in set(tables):
        if tables.count(table) > 1:
            tables_files = [f.name for f in known if f.table == table]
            failures.append(Failure(file=", ".join(tables_files), table=table, rule="ambiguous table", details="one file per table"))
    for table in REQUIRED_TABLES:
        if table not in tables:
            failures.append(Failure(file=f"{table}.{{parquet,csv}}", table=table, rule="required file", details="missing"))
    return known, failures


def _unexpected_entry(path: Path) -> Failure:
    kind = entries.kind_of(path)
    file = printable(path.name)
    if kind == entries.SYMLINK:
        target = entries.Entry(path, path.name, kind).link_target
        return Failure(file=file, rule="symlink", details=f"a link to {target!r}; links are never followed nor read")
    if kind == entries.SPECIAL:
        return Failure(
            file=file, rule="special file", details=f"a {entries.special_kind(path)}; only regular files are read"
        )
    what = "directory" if kind == entries.DIRECTORY else "file"
    return Failure(
        file=file,
        rule="unknown file",
        details=f"unexpected {what}; a batch holds only " + ", ".join(f"{t}.{{parquet,csv}}" for t in SCHEMAS),
    )


def _known_item_ids(settings, checks, curated_item_ids: set[str] | None) -> set[str]:
    known: set[str] = set()
    if "items" in checks:
        known |= set(checks["items"][1]["item_id"].dropna()) if "item_id" in checks["items"][1] else set()
    if curated_item_ids is not None:
        return known | curated_item_ids
    curated = settings.lake.items
    if io.exists(curated):
        known |= set(io.read_parquet(curated, columns=["item_id"])["item_id"].dropna().astype(str))
    return known
