"""`recaug export`: model artifact -> model.onnx + export.json (parity-checked)."""

from __future__ import annotations

import json

from recaug.errors import ConfigError


def artifact_dir(args, settings) -> str:
    """--artifact, else models/<run-id> of the lake."""
    if getattr(args, "artifact", None):
        return str(args.artifact)
    if settings.run_id:
        return settings.lake.url("models", settings.run_id)
    raise ConfigError("name the model: pass --artifact DIR or --run-id RUN")


def _export(args, settings) -> int:
    from recaug.export.onnx import export

    result = export(settings, artifact_dir(args, settings))
    print(json.dumps(result.model_dump(mode="json"), indent=2))
    return 0


def register(commands) -> None:
    parser = commands.add(
        "export", "export a model artifact to ONNX (history -> top-K) and check parity with torch", _export
    )
    parser.add_argument("--artifact", help="model artifact directory (default: models/<run-id>)")
