"""Great Expectations validation of landing batches as an Airflow operator.

The provider `airflow-provider-great-expectations` cannot be installed next to Airflow
3.3 (it pins structlog<25.5), and recaug's validation already runs real GX suites,
quarantines bad batches and writes readable reports; this operator is the thin
Airflow side of `recaug.validate.ingest.ingest`.
"""

from __future__ import annotations

from typing import Any

from recaug_airflow.stage_runner import RecaugStageOperator


class GXValidateIngestOperator(RecaugStageOperator):
    """Validate and ingest landing batches; a rejected batch fails the run.

    Bad data does not get better by retrying, so a rule violation fails the task at
    once (no retries) and downstream tasks never start: the serving model stays the
    champion. The batch is already in quarantine with its report.
    """

    template_fields = ("batches",)
    ui_color = "#fdf1e0"

    def __init__(self, *, batches: Any = None, **kwargs):
        super().__init__(**kwargs)
        self.batches = batches

    def run(self, settings):
        from recaug.validate.ingest import ingest

        return ingest(settings, batches=list(self.batches) if self.batches else None)

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowFailException
        from recaug.validate.ingest import IngestResult

        result = super().execute(context)  # recorded for the failure summary and the report
        if result["rejected"]:
            raise AirflowFailException("data validation failed\n" + IngestResult.model_validate(result).summary())
        return result
