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


def tower_users():
    """Training users' raw features: the spec a tower model learns its codes from."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "age": [18.0, 25.0, 33.0, 47.0, 52.0, 61.0, np.nan, 29.0], "gender": ["f", "m", "f", "m", None, "f", "m", "x"],
        "occupation": ["artist", "doctor", "student", None, "artist", "lawyer", "student", "doctor"],
        "region": ["north", "south", "east", "west", "north", None, "south", "east"],
        "profile_embedding": [rng.normal(size=6).astype("float32") if i % 2 else None for i in range(8)],
    })


def make_tower_artifact(directory, num_items: int = 60, seed: int = 0, **model_overrides):
    """A FusionSASRec with a user tower (categorical, numeric and profile inputs) whose tower
    weights are large enough that attributes change the top-K, saved as an artifact."""
    import torch

    from recaug.models.artifact import build_model, model_params, save_artifact
    from recaug.models.config import ModelConfig
    from recaug.models.user_tower import UserFeatureSpec

    config = ModelConfig(**{"hidden_size": 16, "num_layers": 1, "num_heads": 2, "max_length": 12,
                            "use_user_features": True, **model_overrides})
    torch.manual_seed(seed)
    model = build_model("fusion_sasrec", config, num_items, None, UserFeatureSpec.fit(tower_users()))
    with torch.no_grad():
        for name, parameter in model.user_tower.named_parameters():
            if not name.startswith("gate"):
                parameter.normal_(std=0.5)
    save_artifact(str(directory), model, [None] + [f"item-{i}" for i in range(1, num_items + 1)], model_params(model))
    return str(directory)
