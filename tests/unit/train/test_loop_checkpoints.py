"""Training checkpoints are loaded weights-only: data from the lake never runs code."""

from __future__ import annotations

import io as bytes_io
import os
import random

import numpy as np
import pytest
import torch

from recaug import io
from recaug.models.artifact import ArtifactError
from recaug.train.loop import _load_checkpoint, _rng_state, _set_rng_state, fit
from recaug.train.dataset import build_sequences
from recaug.models.fusion_sasrec import FusionSASRec


class _RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_a_pickled_object_is_refused_and_never_run(market, tiny_model_config, tiny_train_config,
                                                                  tmp_path):
    marker = tmp_path / "pwned"
    checkpoint = str(tmp_path / "checkpoint.pt")
    buffer = bytes_io.BytesIO()
    torch.save({"key": "k", "epoch": 1, "payload": _RunsAShellCommand(marker)}, buffer)
    io.write_bytes(checkpoint, buffer.getvalue())
    interactions, items, embeddings = market
    data = build_sequences(interactions, items, embeddings)
    model = FusionSASRec(tiny_model_config, data.num_items, data.item_features())
    with pytest.raises(ArtifactError, match=r"checkpoint.pt: refused to load.*posix.system"):
        fit(model, data, tiny_train_config, checkpoint_url=checkpoint, checkpoint_key="k")
    assert not marker.exists()


def test_generator_states_round_trip_and_old_numpy_checkpoints_still_load(tmp_path):
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    new_format = tmp_path / "new.pt"
    torch.save({"rng": _rng_state()}, new_format)
    old_format = tmp_path / "old.pt"  # written before the states were stored as tensors
    torch.save({"rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}},
               old_format)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    for path in (new_format, old_format):
        random.seed(0)
        np.random.seed(0)
        torch.manual_seed(0)
        _set_rng_state(_load_checkpoint(str(path))["rng"])
        assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
