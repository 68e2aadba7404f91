"""Export of a model with a user tower: the tower's inputs join the graph, parity covers them,
export.json carries them (and the spec that encodes them) in its reference request."""

from __future__ import annotations

import os

import numpy as np
import pytest

from recaug.export.onnx import export, load_export, synthetic_requests
from recaug.models.user_spec import UserFeatureSpec

from export_helpers import make_tower_artifact, tower_users


@pytest.fixture(scope="module")
def tower_export(tmp_path_factory, export_settings):
    import torch

    torch.set_num_threads(2)
    artifact = make_tower_artifact(tmp_path_factory.mktemp("tower"))
    return artifact, export(export_settings, artifact)


def _session(artifact):
    import onnxruntime as ort

    return ort.InferenceSession(os.path.join(artifact, "model.onnx"), providers=["CPUExecutionProvider"])


def _torch(artifact, inputs):
    import torch

    from recaug.export.model import input_names, top_k_module
    from recaug.models.artifact import load_artifact

    model, _, params = load_artifact(artifact)
    module = top_k_module(model, 10, True, params["model"]["max_length"])
    with torch.inference_mode():
        return [t.numpy() for t in module(*(torch.from_numpy(inputs[n]) for n in input_names(model)))]


def test_graph_takes_the_tower_inputs_and_export_json_describes_them(tower_export):
    artifact, result = tower_export
    spec = UserFeatureSpec.fit(tower_users())
    assert result.user_inputs == {"user_categorical": 3, "user_numeric": 1, "user_profile": 6}
    assert UserFeatureSpec.from_json(result.user_features) == spec
    assert all(c.ids_equal and c.ranking_equal and c.max_abs_score_diff <= 1e-4 for c in result.parity)
    session = _session(artifact)
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("history", "tensor(int64)"), ("timestamps", "tensor(int64)"), ("now", "tensor(int64)"),
        ("user_categorical", "tensor(int64)"), ("user_numeric", "tensor(float)"), ("user_profile", "tensor(float)")]
    reference = load_export(artifact)["reference"]
    assert np.asarray(reference["user_categorical"]).shape == (4, 3)
    assert np.asarray(reference["user_profile"]).shape == (4, 6)
    replayed = session.run(None, {name: np.asarray(reference[name], dtype=np.int64 if name in (
        "history", "timestamps", "now", "user_categorical") else np.float32) for name in result.user_inputs | {
        "history": 0, "timestamps": 0, "now": 0}})
    np.testing.assert_array_equal(replayed[0], np.asarray(reference["top_ids"]))


def test_users_with_the_same_empty_history_and_different_attributes_get_different_answers(tower_export):
    """The served graph answers a cold user by their attributes (and profile), exactly as torch does."""
    artifact, _ = tower_export
    spec = UserFeatureSpec.fit(tower_users())
    inputs = synthetic_requests(60, 3, 4, seed=5)
    inputs["history"][:] = 0  # three users without history
    inputs["timestamps"][:] = 0
    inputs.update(spec.model_inputs([
        {"gender": "f", "occupation": "artist", "region": "north", "age": 22},
        {"gender": "m", "occupation": "lawyer", "region": "west", "age": 58},
        {"gender": "m", "occupation": "lawyer", "region": "west", "age": 58, "profile_embedding": [1.0] * 6},
    ]))
    ids, scores, vectors = _session(artifact).run(None, inputs)
    t_ids, t_scores, t_vectors = _torch(artifact, inputs)
    np.testing.assert_array_equal(ids, t_ids)
    np.testing.assert_allclose(scores, t_scores, atol=1e-4)
    np.testing.assert_allclose(vectors, t_vectors, atol=1e-5)
    assert not np.array_equal(ids[0], ids[1]) and not np.array_equal(ids[1], ids[2])


def test_unknown_and_missing_values_encode_as_no_information():
    spec = UserFeatureSpec.fit(tower_users())
    inputs = spec.model_inputs([{"gender": "nonbinary", "age": "n/a", "region": None}, {}])
    assert inputs["user_categorical"].tolist() == [[0, 0, 0], [0, 0, 0]]
    assert np.isnan(inputs["user_numeric"]).all() and not inputs["user_profile"].any()
    assert UserFeatureSpec({}, {"age": {"mean": 1.0, "std": 1.0, "edges": []}}, 0).model_inputs([{"age": 3}]) \
        .keys() == {"user_numeric"}  # only the parts a spec has become inputs


def test_models_without_a_tower_keep_the_three_inputs(exported):
    artifact, result = exported
    assert result.user_inputs == {} and result.user_features is None
    assert set(load_export(artifact)["reference"]) == {"history", "timestamps", "now", "top_ids", "top_scores"}
