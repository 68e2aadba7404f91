"""Feast materialization as an Airflow operator."""

from __future__ import annotations

from recaug_airflow.stage_runner import RecaugStageOperator


class FeastMaterializeOperator(RecaugStageOperator):
    """Load the fused feature tables into the online store.

    Delegates to `recaug.features.store.materialize`, which advances Feast's own
    watermark (incremental) instead of the DAG's data interval: a cron timetable's
    interval says nothing about which rows are new.
    """

    ui_color = "#eaf7ea"

    def run(self, settings):
        from recaug.features.store import materialize

        return materialize(settings)


class FeastApplyOperator(RecaugStageOperator):
    """Register feature_repo/ definitions (`recaug.features.store.apply_definitions`).

    A task of its own, before materialization: the stage applies only when the
    definitions changed, because `feast apply` resets materialization watermarks
    (Feast issue 2905) and must never run inside the materialize task.
    """

    ui_color = "#eaf7ea"

    def run(self, settings):
        from recaug.features.store import apply_definitions

        return apply_definitions(settings)
