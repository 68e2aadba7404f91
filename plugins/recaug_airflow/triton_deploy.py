"""Deploy of an approved model to Triton as an Airflow operator."""

from __future__ import annotations

from typing import Any

from recaug_airflow.stage_runner import RecaugStageOperator


class TritonDeployOperator(RecaugStageOperator):
    """Push the exported model to Triton (`recaug.deploy.deploy.deploy`): a new model
    repository version, explicit load, smoke test, roll back on failure.

    With the `local` target the bundled server is started first if it is not running.
    `artifact_dir` is usually the train task's XCom. Deploying an artifact that is
    already serving is a no-op in the stage, so a rerun deploys nothing new.
    """

    template_fields = ("artifact_dir",)
    ui_color = "#f3e8fb"

    def __init__(self, *, artifact_dir: Any, **kwargs):
        super().__init__(**kwargs)
        self.artifact_dir = artifact_dir

    def run(self, settings):
        from recaug.deploy.deploy import deploy

        if settings.deploy.target.type == "local":
            from recaug.deploy.server import LocalTritonServer

            # The embedded default: make sure the bundled server runs (a no-op when it
            # does); it outlives the task and keeps serving between runs.
            LocalTritonServer.from_settings(settings).start()
        return deploy(settings, self.artifact_dir)
