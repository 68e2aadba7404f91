"""The model artifact directory `models/<run>/` (the contract with export and deploy).

    model.pt            torch state_dict (weights + item feature buffers)
    item_vocab.json     list: vocabulary index -> item_id; index 0 is padding (null)
    params.json         model type, ModelConfig, catalogue size, feature shapes, user feature codes, training config
    metrics.json        evaluation results (DVC metrics)
    data_versions.json  content hashes of the tables the model was trained on

`load_artifact(dir)` rebuilds the model in eval mode from these files alone.
"""

from __future__ import annotations

import io as _bytes_io
from typing import Any

from recaug import io
from recaug.errors import RecaugError

MODEL_FILE = "model.pt"
VOCAB_FILE = "item_vocab.json"
PARAMS_FILE = "params.json"
METRICS_FILE = "metrics.json"
DATA_VERSIONS_FILE = "data_versions.json"


class ArtifactError(RecaugError):
    """A model artifact directory is missing files or does not match its parameters."""


def model_class(model_type: str):
    from recaug.models.fusion_sasrec import FusionSASRec
    from recaug.models.gru4rec import GRU4Rec

    classes = {FusionSASRec.name: FusionSASRec, GRU4Rec.name: GRU4Rec}
    if model_type not in classes:
        raise ArtifactError(f"unknown model type {model_type!r}; expected one of {sorted(classes)}")
    return classes[model_type]


def build_model(model_type: str, config, num_items: int, features=None, users=None):
    """`users`: a UserFeatureSpec for models with a user tower (others take none)."""
    cls = model_class(model_type)
    if users is not None and not users.empty and getattr(cls, "has_user_tower", False):
        return model_class(model_type)(config, num_items, features, users)
    return model_class(model_type)(config, num_items, features)


def model_params(model, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What params.json must hold to rebuild `model` (plus caller-provided context)."""
    items = getattr(model, "items", None)
    return {
        "model_type": model.name,
        "model": model.config.model_dump(mode="json"),
        "num_items": model.num_items,
        "item_features": items.feature_spec if items is not None else None,
        "user_features": model.user_spec.to_json() if model.user_spec is not None else None,
        **(extra or {}),
    }


def save_artifact(directory: str, model, vocab: list[str | None], params: dict[str, Any],
                  metrics: dict[str, Any] | None = None, data_versions: dict[str, Any] | None = None) -> None:
    """Write the artifact files atomically, model.pt last so a readable model implies complete metadata."""
    import torch

    if len(vocab) != model.num_items + 1 or vocab[0] is not None:
        raise ArtifactError(f"{directory}: vocabulary must list {model.num_items} items after a null padding entry")
    io.write_json(io.join(directory, VOCAB_FILE), vocab)
    io.write_json(io.join(directory, PARAMS_FILE), params)
    if metrics is not None:
        io.write_json(io.join(directory, METRICS_FILE), metrics)
    if data_versions is not None:
        io.write_json(io.join(directory, DATA_VERSIONS_FILE), data_versions)
    buffer = _bytes_io.BytesIO()
    torch.save(model.state_dict(), buffer)
    io.write_bytes(io.join(directory, MODEL_FILE), buffer.getvalue())


def load_weights_only(data: bytes, where: str):
    """torch.load that unpickles tensors, plain containers and numpy arrays only: a file that
    would run code (or build any other object) is refused with an ArtifactError."""
    import pickle

    import numpy as np
    import torch

    numpy_arrays = [np._core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    try:
        with torch.serialization.safe_globals(numpy_arrays):
            return torch.load(_bytes_io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = str(exc).strip().splitlines()
        unsafe = next((line.strip() for line in detail if "GLOBAL" in line or "Unsupported" in line), detail[0] if detail else "")
        raise ArtifactError(f"{where}: refused to load: it holds objects other than tensors and plain data "
                            f"({unsafe}); only weights are loaded from the lake. Delete or re-create the file.") from exc


def load_artifact(directory: str):
    """-> (model in eval mode, vocabulary list, params dict)."""
    import torch

    from recaug.models.config import ModelConfig
    from recaug.models.layers import ItemFeatures
    from recaug.models.user_tower import UserFeatureSpec

    for name in (MODEL_FILE, VOCAB_FILE, PARAMS_FILE):
        if not io.exists(io.join(directory, name)):
            raise ArtifactError(f"{directory}: not a model artifact (missing {name})")
    vocab = io.read_json(io.join(directory, VOCAB_FILE))
    params = io.read_json(io.join(directory, PARAMS_FILE))
    num_items = int(params["num_items"])
    if len(vocab) != num_items + 1:
        raise ArtifactError(f"{directory}: {VOCAB_FILE} has {len(vocab)} entries, params.json says {num_items} items")
    spec = params.get("item_features")
    features = ItemFeatures.from_spec(num_items, spec) if spec else None
    users = UserFeatureSpec.from_json(params.get("user_features"))  # None for models trained before the tower
    model = build_model(params["model_type"], ModelConfig(**params["model"]), num_items, features, users)
    state = load_weights_only(io.read_bytes(io.join(directory, MODEL_FILE)), io.join(directory, MODEL_FILE))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ArtifactError(f"{directory}/{MODEL_FILE} does not match params.json: {exc}") from exc
    model.eval()
    return model, vocab, params
