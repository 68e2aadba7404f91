"""The explanation evidence written beside model.onnx: the served item matrix, read back with numpy."""

from __future__ import annotations

import os

import numpy as np

from recaug import io
from recaug.export.evidence import EVIDENCE_FILE, read_evidence


def test_evidence_holds_the_unit_rows_of_the_served_item_matrix(exported):
    import torch

    from recaug.models.artifact import load_artifact

    artifact, _ = exported
    evidence = read_evidence(artifact)
    model, vocab, params = load_artifact(artifact)
    with torch.inference_mode():
        matrix = model.item_matrix().numpy()
    assert evidence.vectors.shape == matrix.shape and len(vocab) == matrix.shape[0]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    assert np.allclose(evidence.vectors * norms, matrix, atol=1e-5)  # same directions, unit length
    assert evidence.max_length == params["model"]["max_length"] == 12
    assert evidence.decay == params["model"]["text_profile_decay"]
    assert evidence.text is None  # this model has no item texts: no text channel evidence
    assert evidence.train_count is not None and evidence.train_count.shape == (len(vocab),)


def test_reexport_adds_missing_evidence_without_touching_the_model(exported, export_settings):
    from recaug.export.onnx import ONNX_FILE, export

    artifact, _ = exported
    onnx_before = io.sha256_file(io.join(artifact, ONNX_FILE))
    os.remove(os.path.join(artifact, EVIDENCE_FILE))
    assert read_evidence(artifact) is None
    assert export(export_settings, artifact).reused
    assert read_evidence(artifact) is not None and io.sha256_file(io.join(artifact, ONNX_FILE)) == onnx_before
