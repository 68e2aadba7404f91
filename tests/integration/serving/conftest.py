"""One real tritonserver (bundled in nvidia-pytriton) for the whole session, on free ports."""

from __future__ import annotations

from pathlib import Path

import pytest

SERVING_VENV = Path(__file__).resolve().parents[3] / ".venv-serving"


@pytest.fixture(scope="session")
def serving_root(tmp_path_factory):
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="session")
def serving_settings(serving_root):
    """Settings for a lake under serving_root; the Triton home is serving_root/triton."""
    from recaug.settings import load_settings

    if not (SERVING_VENV / "bin" / "python").exists():
        pytest.fail(f"{SERVING_VENV} is missing: scripts/bootstrap.sh .venv-serving requirements/serving-lock.txt")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECAUG_PARAMS", str(serving_root / "no-params.yaml"))
        settings = load_settings({
            "lake_root": str(serving_root / "lake"),
            "export": {"top_k": 8, "parity_batch_sizes": [1, 3], "parity_lengths": [1, 6]},
            "deploy": {"ready_timeout_s": 60, "served": {"max_queue_delay_us": 100}},
        })
    settings.lake.ensure()
    return settings


@pytest.fixture(scope="session")
def triton(serving_settings):
    """The running local server (stopped, process group and all, at the end of the session)."""
    import torch

    from recaug.deploy.server import LocalTritonServer

    torch.set_num_threads(2)
    server = LocalTritonServer.from_settings(serving_settings)
    server.start()
    yield server
    server.stop()
