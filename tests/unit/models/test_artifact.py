from __future__ import annotations

import pytest
import torch

from recaug import io
from recaug.models.artifact import ArtifactError, load_artifact, model_params, save_artifact
from recaug.models.config import ModelConfig
from recaug.models.fusion_sasrec import FusionSASRec
from recaug.models.gru4rec import GRU4Rec
from tests.unit.models.test_fusion_sasrec import N, batch, features


@pytest.mark.parametrize("build", [
    lambda: FusionSASRec(ModelConfig(hidden_size=16, max_length=10), N, features()),
    lambda: GRU4Rec(ModelConfig(hidden_size=16, num_layers=1), N),
])
def test_roundtrip_rebuilds_the_same_model_in_eval_mode(tmp_path, build):
    torch.manual_seed(0)
    model = build().eval()
    vocab = [None, *[f"item-{i}" for i in range(N)]]
    save_artifact(str(tmp_path), model, vocab, model_params(model, {"run_id": "r1"}), {"valid": {}}, {"interactions": "abc"})
    loaded, loaded_vocab, params = load_artifact(str(tmp_path))
    assert not loaded.training and loaded_vocab == vocab and params["run_id"] == "r1"
    history, times, now = batch()
    assert torch.equal(loaded.user_vector(history, times, now), model.user_vector(history, times, now))
    assert torch.equal(loaded.item_matrix(), model.item_matrix())
    assert io.read_json(str(tmp_path / "data_versions.json")) == {"interactions": "abc"}


def test_missing_or_inconsistent_files_are_reported(tmp_path):
    with pytest.raises(ArtifactError, match="missing model.pt"):
        load_artifact(str(tmp_path))
    model = FusionSASRec(ModelConfig(hidden_size=16), N, features())
    with pytest.raises(ArtifactError, match="null padding"):
        save_artifact(str(tmp_path), model, ["x"] * (N + 1), model_params(model))
    save_artifact(str(tmp_path), model, [None, *map(str, range(N))], model_params(model))
    io.write_json(str(tmp_path / "item_vocab.json"), [None, "a"])
    with pytest.raises(ArtifactError, match="item_vocab.json has 2 entries"):
        load_artifact(str(tmp_path))


def test_model_file_with_a_pickled_object_is_refused_and_never_run(tmp_path):
    import os

    class RunsAShellCommand:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    model = GRU4Rec(ModelConfig(hidden_size=16, num_layers=1), N)
    save_artifact(str(tmp_path), model, [None, *[f"item-{i}" for i in range(N)]], model_params(model))
    torch.save({**model.state_dict(), "payload": RunsAShellCommand()}, tmp_path / "model.pt")
    with pytest.raises(ArtifactError, match=r"model.pt: refused to load.*posix.system"):
        load_artifact(str(tmp_path))
    assert not (tmp_path / "pwned").exists()
