"""DVC versioning of lake sections as an Airflow operator."""

from __future__ import annotations

from recaug_airflow.stage_runner import RecaugStageOperator


class DvcVersionOperator(RecaugStageOperator):
    """Record the accepted data in DVC (`recaug.data.versioning.version_data`) so the
    run's manifest names the exact data versions the model is trained on.

    `targets` are lake-relative paths; None versions every accepted batch and every
    derived section that exists (the stage's default).
    """

    template_fields = ("targets",)

    def __init__(self, *, targets: list[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.targets = targets

    def run(self, settings):
        from recaug.data.versioning import version_data

        return version_data(settings, list(self.targets) if self.targets else None)
