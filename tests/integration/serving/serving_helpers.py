"""Model artifacts for serving tests: a real FusionSASRec (random weights) exported with export()."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def make_exported_artifact(settings, directory: Path, item_ids: list[str], seed: int, **model_overrides) -> str:
    import torch

    from recaug.export.onnx import export
    from recaug.models.artifact import build_model, model_params, save_artifact
    from recaug.models.config import ModelConfig

    config = ModelConfig(**{"hidden_size": 16, "num_layers": 1, "num_heads": 2, "max_length": 20, **model_overrides})
    torch.manual_seed(seed)
    model = build_model("fusion_sasrec", config, len(item_ids))
    save_artifact(str(directory), model, [None, *item_ids], model_params(model))
    export(settings, str(directory))
    return str(directory)


def corrupt_copy(source: str, destination: Path, onnx_bytes: bytes) -> str:
    """A copy of an exported artifact whose model.onnx is replaced, with export.json updated to match
    (as if the export itself had produced a broken file)."""
    import hashlib

    shutil.copytree(source, destination)
    (destination / "model.onnx").write_bytes(onnx_bytes)
    document = json.loads((destination / "export.json").read_text())
    document["model_sha256"] = hashlib.sha256(onnx_bytes).hexdigest()
    (destination / "export.json").write_text(json.dumps(document))
    return str(destination)


def make_exported_tower_artifact(settings, directory: Path, item_ids: list[str], users, seed: int) -> str:
    """An exported FusionSASRec with a user tower whose codes come from the `users` frame (raw
    attributes and profiles); its tower weights are large enough that attributes change the top-K."""
    import torch

    from recaug.export.onnx import export
    from recaug.models.artifact import build_model, model_params, save_artifact
    from recaug.models.config import ModelConfig
    from recaug.models.user_spec import UserFeatureSpec

    config = ModelConfig(hidden_size=16, num_layers=1, num_heads=2, max_length=20, use_user_features=True)
    torch.manual_seed(seed)
    model = build_model("fusion_sasrec", config, len(item_ids), None, UserFeatureSpec.fit(users))
    with torch.no_grad():
        for name, parameter in model.user_tower.named_parameters():
            if not name.startswith("gate"):
                parameter.normal_(std=0.5)
    save_artifact(str(directory), model, [None, *item_ids], model_params(model))
    export(settings, str(directory))
    return str(directory)
