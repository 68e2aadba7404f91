"""Runs the suites with Great Expectations 1.x and turns its results into `Failure`s.

One ephemeral GX context per batch: a pandas data source with one dataframe asset per
file, a ValidationDefinition and Checkpoint per file, and (for rejected batches) a
filesystem data-docs site rendered from the stored results so a person can browse the results as HTML.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from recaug.privacy.masking import is_personal, mask_samples, mask_value
from recaug.validate.frames import base_column
from recaug.validate.report import Failure, sample_repr

log = logging.getLogger(__name__)

DOCS_SITE = "quarantine"


def _import_gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return gx


class GreatExpectationsRunner:
    """Validates check frames against suite dicts inside one ephemeral GX context."""

    def __init__(self, sample_values: int, personal_fields: list[str] | tuple[str, ...] = ()):
        gx = self._gx = _import_gx()
        self.personal_fields = list(personal_fields)  # their sample values are masked in reports and data docs
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        self.source = self.context.data_sources.add_pandas("landing")
        self.sample_values = sample_values

    @property
    def version(self) -> str:
        return self._gx.__version__

    def validate(self, file: str, table: str, frame: pd.DataFrame, suite: dict, parameters: dict) -> list[Failure]:
        from great_expectations.core import ExpectationSuite

        gx = self._gx
        batch_definition = self.source.add_dataframe_asset(file).add_batch_definition_whole_dataframe("whole file")
        gx_suite = self.context.suites.add(
            ExpectationSuite(name=f"{table}: {file}", expectations=suite["expectations"], meta=suite.get("meta"))
        )
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=file, data=batch_definition, suite=gx_suite)
        )
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=f"landing {file}",
                validation_definitions=[definition],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": self.sample_values},
            )
        )
        outcome = checkpoint.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters)
        failures = []
        for key, run in outcome.run_results.items():
            for result in run.results:
                if not result.success:
                    failures.append(self._failure(file, table, result))
            if self._mask_personal(run):  # the data docs render the stored copy: store the masked one
                self.context.validation_results_store.set(key, run)
        return failures

    def _mask_personal(self, run) -> bool:
        """Replace the sample values GX keeps for personal columns; True when any changed."""
        changed = False
        for result in run.results:
            kwargs = result.expectation_config.kwargs
            columns = [kwargs["column"]] if kwargs.get("column") else list(kwargs.get("column_list") or [])
            outcome = result.result or {}
            if not is_personal(", ".join(base_column(c) for c in columns), self.personal_fields):
                continue
            for name in ("partial_unexpected_list", "unexpected_list"):
                if outcome.get(name):
                    outcome[name] = [mask_value(v) for v in outcome[name]]
                    changed = True
            if outcome.get("partial_unexpected_counts"):
                outcome["partial_unexpected_counts"] = [
                    {**c, "value": mask_value(c.get("value"))} for c in outcome["partial_unexpected_counts"]]
                changed = True
        return changed

    def render_data_docs(self, directory: Path) -> Path | None:
        """Render the stored validation results as an HTML site in `directory`."""
        self.context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(directory)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        self.context.build_data_docs(site_names=[DOCS_SITE])
        index = directory / "index.html"
        return index if index.exists() else None

    def _failure(self, file: str, table: str, result) -> Failure:
        config = result.expectation_config
        kwargs = config.kwargs
        column = kwargs.get("column")
        if column:
            column = base_column(column)
        elif kwargs.get("column_list"):
            column = ", ".join(kwargs["column_list"])
        failure = Failure(
            file=file,
            table=table,
            column=column,
            rule=(config.meta or {}).get("rule", config.type),
            expectation=config.type,
            description=config.description or "",
        )
        info = result.exception_info or {}
        if info.get("raised_exception"):
            failure.details = f"could not be evaluated: {info.get('exception_message')}"
            return failure
        outcome = result.result or {}
        if "unexpected_count" in outcome:
            failure.unexpected_count = int(outcome["unexpected_count"])
            failure.element_count = outcome.get("element_count")
            values = outcome.get("partial_unexpected_list") or []
            rows = outcome.get("partial_unexpected_index_list") or []
            failure.sample_values = mask_samples(
                column, [sample_repr(_plain(v)) for v in values[: self.sample_values]], self.personal_fields)
            failure.sample_rows = [int(i) + 1 for i in rows[: self.sample_values] if not isinstance(i, dict)]
        elif config.type == "expect_table_columns_to_match_set":
            mismatched = (outcome.get("details") or {}).get("mismatched") or {}
            missing = mismatched.get("missing") or []
            unexpected = mismatched.get("unexpected") or []
            parts = []
            if missing:
                parts.append(f"missing column(s) {sorted(missing)}")
            if unexpected:
                parts.append(f"unexpected column(s) {sorted(unexpected)}")
            failure.details = "; ".join(parts)
        elif "observed_value" in outcome:
            failure.details = f"observed {sample_repr(outcome['observed_value'])}"
        return failure


def _plain(value):
    """Values as a person reads them: tuples for compound keys, ISO for timestamps."""
    if isinstance(value, dict):
        return tuple(_plain(v) for v in value.values())
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
