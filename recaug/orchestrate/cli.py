"""`recaug model`: the model stages of one run (train → evaluate → gate → export)."""

from __future__ import annotations

import json


def _model(args, settings) -> int:
    from recaug.orchestrate.model_stages import build_model

    print(json.dumps(build_model(settings).model_dump(mode="json"), indent=2))
    return 0


def register(commands) -> None:
    commands.add("model", "train, evaluate, gate and export into models/<run>-<inputs hash>/ "
                 "(records under reports/<run>/tasks/)", _model)
