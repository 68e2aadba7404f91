"""Faults during a deploy, on the real tritonserver: Triton SIGKILLed mid-deploy, and the
deploy process SIGKILLed after it asked Triton to load a version but before the smoke test.

Each test runs its own server (own home, free ports, own lake): these tests kill it, and
the session-wide server of tests/integration/serving must not be touched. Afterwards the
previous live version must serve and answer exactly as ONNX Runtime does on its artifact,
no unchecked version may serve, and the artifacts must be byte-for-byte intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from recaug.deploy.deploy import DeployFailed, deploy, list_records, live_record

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
SERVING_VENV = ROOT / ".venv-serving"
ITEMS = [f"sku-{i}" for i in range(1, 41)]


def _exported_artifact(settings, directory: Path, seed: int) -> str:
    """A real FusionSASRec (random weights) exported with recaug's own export()."""
    import torch

    from recaug.export.onnx import export
    from recaug.models.artifact import build_model, model_params, save_artifact
    from recaug.models.config import ModelConfig

    torch.manual_seed(seed)
    model = build_model("fusion_sasrec", ModelConfig(hidden_size=16, num_layers=1, num_heads=2, max_length=20),
                        len(ITEMS))
    save_artifact(str(directory), model, [None, *ITEMS], model_params(model))
    export(settings, str(directory))
    return str(directory)


def _settings(root: Path):
    from recaug.settings import load_settings

    if not (SERVING_VENV / "bin" / "python").exists():
        pytest.fail(f"{SERVING_VENV} is missing: scripts/bootstrap.sh .venv-serving requirements/serving-lock.txt")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECAUG_PARAMS", str(root / "no-params.yaml"))
        settings = load_settings({
            "lake_root": str(root / "lake"),
            "export": {"top_k": 8, "parity_batch_sizes": [1, 3], "parity_lengths": [1, 6]},
            "deploy": {"ready_timeout_s": 60, "target": {"type": "local", "home": str(root / "triton")}},
        })
    settings.lake.ensure()
    return settings


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault_artifacts")
    settings = _settings(root)
    return {"v1": _exported_artifact(settings, root / "run-1", seed=1),
            "v2": _exported_artifact(settings, root / "run-2", seed=2)}


@pytest.fixture
def own_triton(tmp_path):
    """(settings, server) for a lake and a tritonserver of this test only."""
    import torch

    from recaug.deploy.server import LocalTritonServer

    torch.set_num_threads(2)
    settings = _settings(tmp_path)
    server = LocalTritonServer.from_settings(settings)
    server.start()
    yield settings, server
    server.stop()


def _file_hashes(directory: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(directory).iterdir())}


def _stub_of(server, model_dir: str) -> int | None:
    """pid of the python-backend stub running `<model>/<version>` in the server's process group."""
    state = server.read_state()
    found = subprocess.run(["pgrep", "-g", str(state.pid)], capture_output=True, text=True).stdout.split()
    for pid in found:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "triton_python_backend_stub" in cmdline and f"/{model_dir}/" in cmdline:
            return int(pid)
    return None


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def _ready_versions(server, name: str) -> set[int]:
    import tritonclient.http as http

    state = server.read_state()
    client = http.InferenceServerClient(state.http_url)
    try:
        index = client.get_model_repository_index(headers=state.admin_headers)
    finally:
        client.close()
    return {int(m["version"]) for m in index if m["name"] == name and m.get("state") == "READY"}


def _assert_serves_like_onnxruntime(server, name: str, artifact: str) -> None:
    """Triton's answers (unpinned, as serving apps call it) equal ONNX Runtime's on the artifact."""
    import onnxruntime as ort

    from recaug.deploy.client import infer_http, triton_client
    from recaug.export.onnx import load_export, synthetic_requests

    session = ort.InferenceSession(str(Path(artifact) / "model.onnx"), providers=["CPUExecutionProvider"])
    requests = [load_export(artifact)["reference"]] + [synthetic_requests(len(ITEMS), 3, n, seed=n) for n in (1, 7)]
    with triton_client(server.read_state().http_url) as client:
        for request in requests:
            feeds = {k: np.asarray(request[k], dtype=np.int64) for k in ("history", "timestamps", "now")}
            expected = dict(zip(("top_ids", "top_scores", "user_vector"), session.run(None, feeds)))
            served = infer_http(client, name, feeds)
            np.testing.assert_array_equal(served["top_ids"], expected["top_ids"])
            np.testing.assert_allclose(served["top_scores"], expected["top_scores"], atol=1e-5)


@pytest.mark.parametrize("stage", ["candidate", "promote"])
def test_triton_killed_during_deploy_fails_cleanly_and_the_live_version_serves_after_restart(own_triton, artifacts,
                                                                                           stage):
    settings, server = own_triton
    name = settings.deploy.model_name
    assert deploy(settings, artifacts["v1"]).version == 1
    before = {key: _file_hashes(path) for key, path in artifacts.items()}
    killed = threading.Event()
    loading = f"{name}__candidate/2" if stage == "candidate" else f"{name}/2"

    def kill_triton_when_version_2_loads():
        _wait_for(lambda: _stub_of(server, loading), 120, f"the stub of {loading}")
        os.killpg(server.read_state().pid, signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill_triton_when_version_2_loads, daemon=True)
    killer.start()
    with pytest.raises(DeployFailed) as failure:
        deploy(settings, artifacts["v2"])
    killer.join(5)
    assert killed.is_set()
    message = str(failure.value)
    assert "stopped answering" in message and "recaug serve triton start" in message
    assert "serves version 1" in message
    last = list_records(settings, name)[-1]
    assert (last.version, last.outcome, last.stage) == (2, "rejected", stage)
    assert live_record(settings).version == 1

    leaked = list(Path("/dev/shm").glob(server.shm_prefix + "*"))  # the killed stubs' shared memory
    assert leaked
    server.start()  # restart: reconciles the repository first, then loads what is live
    assert not any(region.exists() for region in leaked)
    assert _ready_versions(server, name) == {1}
    assert sorted(os.listdir(server.repository / name)) == ["1", "config.pbtxt"]
    _assert_serves_like_onnxruntime(server, name, artifacts["v1"])
    assert {key: _file_hashes(path) for key, path in artifacts.items()} == before

    again = deploy(settings, artifacts["v2"])  # nothing lost: the same model deploys once Triton is back
    assert (again.outcome, again.version, again.previous_version) == ("deployed", 3, 1)
    _assert_serves_like_onnxruntime(server, name, artifacts["v2"])


@pytest.mark.parametrize("reconciled_by", ["server start", "next deploy"])
def test_deploy_killed_between_load_and_smoke_test_leaves_no_unchecked_version_serving(own_triton, artifacts,
                                                                                      tmp_path, reconciled_by):
    settings, server = own_triton
    name = settings.deploy.model_name
    assert deploy(settings, artifacts["v1"]).version == 1
    before = {key: _file_hashes(path) for key, path in artifacts.items()}
    env = {**os.environ, "RECAUG_PARAMS": str(tmp_path / "no-params.yaml")}
    command = [sys.executable, "-m", "recaug.cli", "deploy", "--artifact", artifacts["v2"], "--lake",
               settings.lake_root, "--set", "deploy.target.type=local", "--set", f"deploy.target.home={server.home}"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # The real point: the deploy asked Triton to load version 2 under the live name, and its
        # model process is starting. Holding that process keeps the deploy short of its smoke test.
        def loading_stub():
            if process.poll() is not None:
                raise AssertionError(f"deploy ended early ({process.returncode}):\n{process.stdout.read().decode()}")
            return _stub_of(server, f"{name}/2")

        stub = _wait_for(loading_stub, 120, "the stub of version 2 under the live name")
        os.kill(stub, signal.SIGSTOP)
        intent = [r for r in list_records(settings, name) if r.version == 2]
        assert [r.outcome for r in intent] == ["in_progress"]
        process.kill()
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        try:
            os.kill(stub, signal.SIGCONT)
        except (NameError, ProcessLookupError):
            pass
    # Triton finishes the load on its own: the unchecked version now serves.
    _wait_for(lambda: 2 in _ready_versions(server, name), 60, "Triton to finish loading version 2")

    if reconciled_by == "server start":
        server.start()  # already running: reconciles the running server
        assert _ready_versions(server, name) == {1}
        assert sorted(os.listdir(server.repository / name)) == ["1", "config.pbtxt"]
        _assert_serves_like_onnxruntime(server, name, artifacts["v1"])
        assert live_record(settings).version == 1
    assert {key: _file_hashes(path) for key, path in artifacts.items()} == before

    again = deploy(settings, artifacts["v2"])  # reconciles first (a no-op after the start above)
    closed = [r for r in list_records(settings, name) if r.version == 2]
    assert [(r.outcome, r.stage) for r in closed] == [("rejected", "interrupted")]
    assert (again.outcome, again.version, again.previous_version) == ("deployed", 3, 1)
    assert 2 not in _ready_versions(server, name) and not (server.repository / name / "2").exists()
    _assert_serves_like_onnxruntime(server, name, artifacts["v2"])
    assert json.loads(Path(settings.lake_root, "deploy", "records").joinpath(
        sorted(os.listdir(Path(settings.lake_root) / "deploy" / "records"))[-1]).read_text())["outcome"] == "deployed"
