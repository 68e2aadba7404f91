"""A real FusionSASRec (random weights) saved as a model artifact (shared by export, deploy and serving tests)."""

from __future__ import annotations


def make_artifact(directory, num_items: int = 60, seed: int = 0, **model_overrides):
    import torch

    from recaug.models.artifact import build_model, model_params, save_artifact
    from recaug.models.config import ModelConfig

    config = ModelConfig(**{"hidden_size": 16, "num_layers": 1, "num_heads": 2, "max_length": 12, **model_overrides})
    torch.manual_seed(seed)
    model = build_model("fusion_sasrec", config, num_items)
    save_artifact(str(directory), model, [None] + [f"item-{i}" for i in range(1, num_items + 1)], model_params(model))
    return str(directory)
