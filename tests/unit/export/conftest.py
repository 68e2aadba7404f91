"""Settings and one export shared by the module's tests."""

from __future__ import annotations

import pytest

from export_helpers import make_artifact


@pytest.fixture(scope="module")
def export_settings(tmp_path_factory):
    from recaug.settings import load_settings

    lake = tmp_path_factory.mktemp("lake")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECAUG_PARAMS", str(lake / "no-params.yaml"))
        return load_settings({
            "lake_root": str(lake),
            "export": {"top_k": 10, "parity_batch_sizes": [1, 4], "parity_lengths": [1, 9, 20]},
        })


@pytest.fixture(scope="module")
def exported(tmp_path_factory, export_settings):
    """(artifact_dir, ExportResult) of a model with max_length 12 (parity also runs at length 20)."""
    import torch

    from recaug.export.onnx import export

    torch.set_num_threads(2)
    artifact = make_artifact(tmp_path_factory.mktemp("model"))
    return artifact, export(export_settings, artifact)
