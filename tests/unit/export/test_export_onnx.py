from __future__ import annotations

import os

import numpy as np
import pytest

from recaug import io
from recaug.errors import RecaugError
from recaug.export.onnx import ExportError, export, load_export, same_ranking, synthetic_requests

from export_helpers import make_artifact


def _torch_outputs(artifact_dir, inputs, top_k, exclude_history=True):
    import torch

    from recaug.export.model import top_k_module
    from recaug.models.artifact import load_artifact

    model, _, params = load_artifact(artifact_dir)
    module = top_k_module(model, top_k, exclude_history, params["model"]["max_length"])
    with torch.inference_mode():
        return [t.numpy() for t in module(*(torch.from_numpy(inputs[n]) for n in ("history", "timestamps", "now")))]


def _ort(artifact_dir):
    import onnxruntime as ort

    return ort.InferenceSession(os.path.join(artifact_dir, "model.onnx"), providers=["CPUExecutionProvider"])


def test_export_writes_model_and_parity_report(exported):
    artifact, result = exported
    assert result.top_k == 10 and result.num_items == 60 and result.hidden_size == 16 and not result.reused
    assert {(c.batch, c.length) for c in result.parity} == {(b, l) for b in (1, 4) for l in (1, 9, 20)}
    assert all(c.ids_equal and c.ranking_equal and c.max_abs_score_diff <= 1e-4 for c in result.parity)
    document = load_export(artifact)
    assert document["model_sha256"] == io.sha256_file(os.path.join(artifact, "model.onnx"))
    reference = document["reference"]
    assert np.asarray(reference["top_ids"]).shape == (4, 10)
    assert len(reference["now"]) == 4


def test_onnx_has_dynamic_batch_and_length_and_matches_torch_on_unseen_shapes(exported):
    artifact, _ = exported
    session = _ort(artifact)
    assert [i.name for i in session.get_inputs()] == ["history", "timestamps", "now"]
    assert [o.name for o in session.get_outputs()] == ["top_ids", "top_scores", "user_vector"]
    for batch, length in ((7, 3), (2, 33)):  # shapes never seen during export or parity
        inputs = synthetic_requests(60, batch, length, seed=batch + length)
        ids, scores, vectors = session.run(None, inputs)
        t_ids, t_scores, t_vectors = _torch_outputs(artifact, inputs, 10)
        assert ids.shape == (batch, 10) and ids.dtype == np.int64 and scores.dtype == np.float32
        assert vectors.shape == (batch, 16)
        np.testing.assert_array_equal(ids, t_ids)
        np.testing.assert_allclose(scores, t_scores, atol=1e-4)


def test_top_k_excludes_history_and_padding(exported):
    artifact, _ = exported
    inputs = synthetic_requests(60, 6, 11, seed=3)
    ids, scores, _ = _ort(artifact).run(None, inputs)
    for row in range(6):
        assert 0 not in ids[row]
        assert not set(ids[row]) & set(inputs["history"][row][inputs["history"][row] > 0])
        assert np.all(np.diff(scores[row]) <= 0)  # best first


def test_timestamps_beyond_float32_precision_are_handled_exactly(exported):
    """Hour/day features divide Unix seconds; a float32 division would shift them."""
    artifact, _ = exported
    inputs = synthetic_requests(60, 16, 7, seed=16007)  # a case that differed before the integer-division fix
    _, scores, vectors = _ort(artifact).run(None, inputs)
    _, t_scores, t_vectors = _torch_outputs(artifact, inputs, 10)
    np.testing.assert_allclose(vectors, t_vectors, atol=1e-5)
    np.testing.assert_allclose(scores, t_scores, atol=1e-4)


def test_reexport_of_unchanged_artifact_is_a_noop(exported, export_settings):
    artifact, first = exported
    onnx_path = os.path.join(artifact, "model.onnx")
    before = os.stat(onnx_path).st_mtime_ns
    again = export(export_settings, artifact)
    assert again.reused and again.model_sha256 == first.model_sha256
    assert os.stat(onnx_path).st_mtime_ns == before


def test_top_k_larger_than_catalogue_is_rejected_without_writing(tmp_path, export_settings):
    artifact = make_artifact(tmp_path / "tiny", num_items=5)
    settings = export_settings.model_copy(update={"export": export_settings.export.model_copy(update={"top_k": 6})})
    with pytest.raises(ExportError, match="top_k=6 exceeds the 5 items"):
        export(settings, artifact)
    assert not (tmp_path / "tiny" / "model.onnx").exists()
    assert not (tmp_path / "tiny" / "export.json").exists()


def test_missing_artifact_is_a_clear_error(tmp_path, export_settings):
    with pytest.raises(RecaugError, match="model.pt"):
        export(export_settings, str(tmp_path / "nothing-here"))


def test_same_ranking_tolerates_only_near_ties():
    ids = np.array([[5, 9, 2, 7]])
    scores = np.array([[0.9, 0.5, 0.5000001, 0.1]], dtype=np.float32)
    swapped = np.array([[5, 2, 9, 7]])
    assert same_ranking(ids, scores, swapped, scores[:, [0, 2, 1, 3]], 1e-4)
    assert not same_ranking(ids, scores, np.array([[9, 5, 2, 7]]), scores, 1e-4)  # 0.9 vs 0.5 is no tie
    # an item outside A's top-K may replace A's last item only if it ties with the cut-off
    assert same_ranking(ids, scores, np.array([[5, 9, 2, 8]]), np.array([[0.9, 0.5, 0.5, 0.1]]), 1e-4)
    assert not same_ranking(ids, scores, np.array([[5, 9, 8, 7]]), np.array([[0.9, 0.5, 0.5, 0.1]]), 1e-4)
