"""`ingest`: validate every pending landing batch, then accept or quarantine it.

Accepted batches are copied byte for byte into raw/<batch>/ and merged into the
curated tables; rejected batches are copied whole into quarantine/<batch>/ with
report.json and GX data docs. Only then is the batch recorded in state/batches.json
and removed from landing. Each step is atomic and a rerun after a crash finishes the
job without duplicating anything. The batches accepted in one call are merged into
curated/ together (one read and one write per table), so ingesting B batches costs
O(rows) rather than O(B x rows).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel, Field

from recaug import io
from recaug.data.schemas import SCHEMAS
from recaug.errors import RecaugError, ValidationFailed
from recaug.validate import batch_names, entries, quarantine
from recaug.validate.batch import ValidatedBatch, check_batch
from recaug.validate.report import BatchReport, Failure
from recaug.validate.state import ACCEPTED, REJECTED, BatchRecord, Ledger

log = logging.getLogger(__name__)


class IngestResult(BaseModel):
    accepted: list[str] = Field(default_factory=list)
    rejected: list[str] = Field(default_factory=list, description="batch names as moved into quarantine/")
    skipped: list[str] = Field(default_factory=list, description="already processed with identical bytes")
    reports: list[BatchReport] = Field(default_factory=list, description="reports of rejected batches")
    curated_rows: dict[str, int] = Field(default_factory=dict)

    def summary(self) -> str:
        lines = [
            f"ingest: {len(self.accepted)} accepted, {len(self.rejected)} rejected, {len(self.skipped)} already processed"
        ]
        lines += [report.summary() for report in self.reports]
        return "\n".join(lines)

    def raise_for_rejections(self) -> None:
        if self.rejected:
            raise ValidationFailed(self.summary())


def ingest(settings, batches: list[str] | None = None, landing: str | Path | None = None) -> IngestResult:
    """Process landing batches in name order (all pending ones, or just `batches`)."""
    from filelock import FileLock

    lake = settings.lake.ensure()
    landing_dir = Path(landing) if landing else lake.local("landing")
    if not landing_dir.is_dir():
        raise RecaugError(f"landing directory {landing_dir} does not exist")
    # Every visible entry is a batch to judge: folders, but also stray files, links and
    # pipes, which are quarantined with a report instead of lying in landing unseen.
    pending = sorted(p.name for p in landing_dir.iterdir() if not p.name.startswith("."))
    if batches is not None:
        missing = sorted(set(batches) - set(pending))
        if missing:
            raise RecaugError(f"batch(es) {missing} not found in {landing_dir}")
        pending = [b for b in pending if b in set(batches)]
    result = IngestResult()
    with FileLock(str(lake.local("state", "ingest.lock"))):
        accepted = _AcceptedBatches(settings)
        for name in pending:
            _process(settings, landing_dir / name, result, accepted)
        accepted.commit(result)
    for table in SCHEMAS:
        url = lake.url("curated", f"{table}.parquet")
        if io.exists(url):
            result.curated_rows[table] = _row_count(url)
    log.info("ingest done: %s", result.summary().splitlines()[0])
    return result


class _AcceptedBatches:
    """Batches accepted in this call, waiting to be merged into curated/ at once.

    Until `commit` they are in raw/ but neither in the ledger nor removed from landing: a
    crash before then leaves them to the next ingest, which accepts them again (raw/ holds
    the same bytes) and merges idempotently (the newest row wins per key).
    """

    def __init__(self, settings) -> None:
        self.settings = settings
        self.tables: dict[str, list[pa.Table]] = {}  # Arrow: 10M rows take a third of a pandas frame's memory
        self.batches: list[tuple[str, BatchRecord, Path]] = []
        self._item_ids: set[str] | None = None

    def known_item_ids(self) -> set[str]:
        """Curated item ids (read once) plus those of the batches accepted so far."""
        if self._item_ids is None:
            curated = self.settings.lake.items
            self._item_ids = (set(io.read_parquet(curated, columns=["item_id"])["item_id"].dropna().astype(str))
                              if io.exists(curated) else set())
        return self._item_ids

    def add(self, name: str, source: Path, validated: ValidatedBatch, record: BatchRecord) -> None:
        for table, frame in validated.tables.items():
            self.tables.setdefault(table, []).append(pa.Table.from_pandas(frame, preserve_index=False))
        if "items" in validated.tables:
            self.known_item_ids().update(validated.tables["items"]["item_id"].dropna().astype(str))
        self.batches.append((name, record, source))

    def commit(self, result: IngestResult) -> None:
        if not self.batches:
            return
        _merge_curated(self.settings, self.tables)
        ledger_url = self.settings.lake.url("state", "batches.json")
        ledger = Ledger.load(ledger_url)
        for name, record, _ in self.batches:
            ledger.batches[name] = record
        ledger.save(ledger_url)
        for name, _, source in self.batches:
            entries.remove(source)
            result.accepted.append(name)
            log.info("batch %s accepted into raw/%s", name, name)


def _process(settings, source: Path, result: IngestResult, accepted: _AcceptedBatches) -> None:
    lake = settings.lake
    ledger_url = lake.url("state", "batches.json")
    ledger = Ledger.load(ledger_url)
    name = batch_names.storage_name(source.name)
    hashes = quarantine.file_hashes(source)
    record = ledger.batches.get(name)
    if record and record.files == hashes:
        log.info("batch %s already %s; removing its landing copy", name, record.status)
        result.skipped.append(name)
        entries.remove(source)
        return

    raw_dir = lake.local("raw", name)
    if raw_dir.exists() and quarantine.file_hashes(raw_dir) != hashes:
        report = BatchReport(
            batch=name,
            accepted=False,
            validated_at=_now(),
            failures=[
                Failure(
                    file=name,
                    rule="batch already accepted",
                    details=f"raw/{name} holds different bytes; accepted batches are immutable, send it under a new name",
                )
            ],
        )
        _reject(settings, source, hashes, ValidatedBatch(report), ledger, result)
        return

    log.info("validating batch %s (%d files)", name, len(hashes))
    validated = check_batch(settings, source, accepted.known_item_ids())
    if not validated.report.accepted:
        _reject(settings, source, hashes, validated, ledger, result)
        return

    if not raw_dir.exists():
        quarantine.publish(source, raw_dir)
    accepted.add(name, source, validated,
                 BatchRecord(status=ACCEPTED, location=f"raw/{name}", files=hashes, processed_at=_now()))


def _reject(
    settings, source: Path, hashes: dict[str, str], validated: ValidatedBatch, ledger: Ledger, result: IngestResult
) -> None:
    lake = settings.lake
    report = validated.report
    name = batch_names.storage_name(source.name)
    destination = lake.local("quarantine", name)
    if destination.exists():
        previous = quarantine.file_hashes(destination, skip=quarantine.artifact_names(hashes))
        if previous != hashes:
            destination = lake.local("quarantine", f"{name}~{io.content_hash(*sorted(hashes.values()))[:8]}")
    if not destination.exists():
        staging = quarantine.staging_dir(destination)
        report_name, docs_name = quarantine.artifact_names(hashes)
        if settings.validate_.data_docs and validated.render_data_docs(staging / docs_name):
            report.data_docs = f"quarantine/{destination.name}/{docs_name}/index.html"
        quarantine.write_report(staging, report, report_name)
        quarantine.publish(source, destination, staging)
    ledger.batches[name] = BatchRecord(
        status=REJECTED,
        location=f"quarantine/{destination.name}",
        files=hashes,
        processed_at=_now(),
        failures=len(report.failures),
    )
    ledger.save(lake.url("state", "batches.json"))
    entries.remove(source)
    result.rejected.append(destination.name)
    result.reports.append(report)
    log.warning("batch %s rejected into quarantine/%s: %d rule(s) broken", report.batch, destination.name, len(report.failures))


def _merge_curated(settings, tables: dict[str, list["pa.Table"]]) -> None:
    """Append accepted batches' canonical tables to curated/, newest rows winning on key clashes,
    sorted by key. Done in Arrow: a sort by (key, arrival) and one take, without pandas copies."""
    import numpy as np
    import pyarrow.compute as pc

    lake = settings.lake
    for table, parts in tables.items():
        schema = SCHEMAS[table]
        url = lake.url("curated", f"{table}.parquet")
        target = pa.Schema.from_pandas(schema.empty(), preserve_index=False)
        current = io.read_table(url) if io.exists(url) else target.empty_table()
        merged = pa.concat_tables([_conformed(t, target) for t in (current, *parts)])
        arrival = pa.array(np.arange(merged.num_rows))
        order = pc.sort_indices(merged.select(list(schema.key)).append_column("__arrival", arrival),
                                sort_keys=[*((k, "ascending") for k in schema.key), ("__arrival", "ascending")])
        keys = merged.select(list(schema.key)).take(order)
        same_as_next = np.ones(max(merged.num_rows - 1, 0), dtype=bool)
        for column in keys.itercolumns():
            column = column.combine_chunks()
            same_as_next &= pc.fill_null(pc.equal(column[:-1], column[1:]), False).to_numpy(zero_copy_only=False)
        last_of_key = np.r_[~same_as_next, True][:merged.num_rows]  # the newest arrival of each key
        merged = merged.take(order.filter(pa.array(last_of_key)))
        io.write_parquet(merged, url)
        log.info("curated/%s.parquet: %d rows (+%d from the accepted batches)", table, merged.num_rows,
                 merged.num_rows - current.num_rows)


def _conformed(table: "pa.Table", target: "pa.Schema") -> "pa.Table":
    """`table` with the target's columns in order and types; a column it lacks (a curated file
    written before the column existed) is all null, as pandas' concat made it."""
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
               for f in target]
    return pa.Table.from_arrays(columns, schema=target)


def _row_count(url: str) -> int:
    import pyarrow.parquet as pq

    fs, path = io.filesystem(url)
    with fs.open(path, "rb") as fh:
        return pq.ParquetFile(fh).metadata.num_rows


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
