"""Deploy, roll back and serve on the real tritonserver binary."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from recaug.deploy.deploy import DeployFailed, deploy, list_records, live_record
from recaug.export.onnx import load_export

from serving_helpers import corrupt_copy, make_exported_artifact

pytestmark = pytest.mark.slow
ITEMS = [f"sku-{i}" for i in range(1, 41)]


@pytest.fixture(scope="module")
def artifacts(serving_settings, serving_root):
    return {
        "v1": make_exported_artifact(serving_settings, serving_root / "models" / "run-1", ITEMS, seed=1),
        "v2": make_exported_artifact(serving_settings, serving_root / "models" / "run-2", ITEMS, seed=2),
    }


def _infer(triton, name, document, version=""):
    from recaug.deploy.client import infer_http, triton_client

    with triton_client(triton.read_state().http_url) as client:
        return infer_http(client, name, document["reference"], int(version) if version else None)


def _expected(artifact):
    reference = load_export(artifact)["reference"]
    return np.asarray(reference["top_ids"]), np.asarray(reference["top_scores"], dtype=np.float32)


def test_deploy_versions_roll_back_broken_models_and_keep_serving(triton, serving_settings, artifacts, serving_root):
    settings, name = serving_settings, serving_settings.deploy.model_name

    first = deploy(settings, artifacts["v1"])
    assert (first.outcome, first.version, first.smoke.passed) == ("deployed", 1, True)
    outputs = _infer(triton, name, load_export(artifacts["v1"]))
    ids, scores = _expected(artifacts["v1"])
    np.testing.assert_array_equal(outputs["top_ids"], ids)
    np.testing.assert_allclose(outputs["top_scores"], scores, atol=1e-5)

    assert deploy(settings, artifacts["v1"]).outcome == "unchanged"  # same model hash: no-op
    assert len(list_records(settings, name)) == 1

    second = deploy(settings, artifacts["v2"])
    assert (second.outcome, second.version, second.previous_version) == ("deployed", 2, 1)
    ids2, _ = _expected(artifacts["v2"])
    served = _infer(triton, name, load_export(artifacts["v2"]))
    np.testing.assert_array_equal(served["top_ids"], ids2)
    assert not np.array_equal(ids2, ids)  # the two models really differ

    broken = corrupt_copy(artifacts["v2"], serving_root / "models" / "broken", b"this is not an onnx model")
    with pytest.raises(DeployFailed, match="rejected at candidate.*version 2 keeps serving"):
        deploy(settings, broken)
    np.testing.assert_array_equal(_infer(triton, name, load_export(artifacts["v2"]))["top_ids"], ids2)
    assert live_record(settings).version == 2

    # a valid model whose answers differ from its export.json reference fails the smoke test
    liar = corrupt_copy(artifacts["v2"], serving_root / "models" / "liar",
                        (serving_root / "models" / "run-1" / "model.onnx").read_bytes())
    with pytest.raises(DeployFailed, match="smoke test failed"):
        deploy(settings, liar)
    np.testing.assert_array_equal(_infer(triton, name, load_export(artifacts["v2"]))["top_ids"], ids2)

    records = list_records(settings, name)
    assert [(r.version, r.outcome, r.stage) for r in records] == [
        (1, "deployed", ""), (2, "deployed", ""), (3, "rejected", "candidate"), (4, "rejected", "candidate"),
    ]
    # the records folder is shared by every served model name (other tests deploy beside this one)
    folder = settings.lake.local("deploy", "records")
    stored = {name_: json.loads((folder / name_).read_text()) for name_ in sorted(os.listdir(folder))}
    ours = [(file, record) for file, record in stored.items() if record["model_name"] == name]
    assert ours[0][0].endswith("-v1.json") and ours[-1][0].endswith("-v4.json")
    assert ours[0][1]["model_sha256"] == first.model_sha256 and ours[0][1]["smoke"]["passed"] is True

    # no staging model is left loaded, and the repository holds only real versions
    status = triton.status()
    assert not [m for m in status.models if m["name"].endswith("__candidate")]
    ready = {m.get("version") for m in status.models if m["name"] == name and m.get("state") == "READY"}
    # latest-2 policy: the replaced version 1 keeps answering gateways still pinned to it
    assert ready == {"1", "2"}
    assert sorted(os.listdir(triton.repository / name)) == ["1", "2", "config.pbtxt"]


def test_retract_after_a_failed_promote_restores_the_live_version(triton, serving_settings, artifacts):
    """The promote-stage rollback: a newer version was loaded under the live name, then retracted."""
    from recaug.deploy.client import triton_client, wait_until_ready
    from recaug.deploy.local import LocalTarget
    from recaug.deploy.repository import model_config, version_files

    name = serving_settings.deploy.model_name
    live = deploy(serving_settings, artifacts["v2"])  # live already: a no-op
    target = LocalTarget.from_settings(serving_settings)
    config = model_config(name, "python", serving_settings.deploy.served, 8, 16)
    newer = max(target.repository.versions(name)) + 1
    target.publish(name, newer, config, version_files(artifacts["v1"], "python"))
    with triton_client(target.http_url) as client:
        assert wait_until_ready(client, name, newer, 60)
        target.retract(name, newer, (live.version, config, version_files(artifacts["v2"], "python")))
        assert wait_until_ready(client, name, live.version, 60)
        assert not client.is_model_ready(name, str(newer))
    assert newer not in target.repository.versions(name)
    ids2, _ = _expected(artifacts["v2"])
    np.testing.assert_array_equal(_infer(triton, name, load_export(artifacts["v2"]))["top_ids"], ids2)


def test_model_changed_after_export_is_refused_before_reaching_triton(triton, serving_settings, artifacts,
                                                                      serving_root):
    import shutil

    tampered = serving_root / "models" / "tampered"
    shutil.copytree(artifacts["v1"], tampered)
    (tampered / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(DeployFailed, match="does not match the hash in export.json"):
        deploy(serving_settings, str(tampered))


def test_grpc_and_dynamic_batches_of_mixed_lengths(triton, serving_settings, artifacts):
    """Concurrent requests with different history lengths and different requested outputs:
    Triton batches equal lengths together; each answer holds what its request asked for."""
    import concurrent.futures

    import tritonclient.grpc as grpc

    from recaug.export.onnx import synthetic_requests
    from recaug.export.model import top_k_module
    from recaug.models.artifact import load_artifact

    deploy(serving_settings, artifacts["v2"])  # live already (no-op) or re-deployed after test ordering changes
    model, _, _ = load_artifact(artifacts["v2"])
    module = top_k_module(model, 8, True, 20)
    lengths = (1, 3, 9, 15)
    requests = [synthetic_requests(len(ITEMS), 2, length, seed=length) for length in lengths] * 3
    asked = [("top_ids", "top_scores") if i % 2 else () for i in range(len(requests))]  # () = all outputs

    def call(inputs, outputs):
        client = grpc.InferenceServerClient(triton.read_state().grpc_url)
        tensors = []
        for key in ("history", "timestamps", "now"):
            value = inputs[key] if key != "now" else inputs[key].reshape(-1, 1)
            tensor = grpc.InferInput(key, list(value.shape), "INT64")
            tensor.set_data_from_numpy(value)
            tensors.append(tensor)
        result = client.infer(serving_settings.deploy.model_name, tensors,
                              outputs=[grpc.InferRequestedOutput(name) for name in outputs] or None)
        client.close()
        return {output.name: result.as_numpy(output.name) for output in result.get_response().outputs}

    import torch

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, requests, asked))
    for inputs, outputs, answer in zip(requests, asked, answers):
        with torch.inference_mode():
            t_ids, t_scores, t_user = module(*(torch.from_numpy(inputs[k]) for k in ("history", "timestamps", "now")))
        assert sorted(answer) == sorted(outputs or ("top_ids", "top_scores", "user_vector"))
        np.testing.assert_array_equal(answer["top_ids"], t_ids.numpy())
        np.testing.assert_allclose(answer["top_scores"], t_scores.numpy(), atol=1e-4)
        if "user_vector" in answer:
            np.testing.assert_allclose(answer["user_vector"], t_user.numpy(), atol=1e-4)


def test_remote_target_pushes_files_through_the_repository_api(triton, serving_settings, artifacts, monkeypatch):
    """The `remote` target (no shared folder) against the same server, as another model name;
    the admin key comes from the environment variable the config names."""
    settings = serving_settings.model_copy(deep=True)
    settings.deploy.model_name = "recaug_remote"
    settings.deploy.target = type(settings.deploy).model_fields["target"].annotation.__args__[1](
        type="remote", url=triton.read_state().http_url, model_format="python", admin_key_env="TEST_TRITON_ADMIN_KEY")
    monkeypatch.setenv("TEST_TRITON_ADMIN_KEY", triton.read_state().admin_key)
    record = deploy(settings, artifacts["v1"])
    assert (record.outcome, record.version, record.target) == ("deployed", 1, f"remote:{settings.deploy.target.url}")
    ids, _ = _expected(artifacts["v1"])
    np.testing.assert_array_equal(_infer(triton, "recaug_remote", load_export(artifacts["v1"]))["top_ids"], ids)
    assert not (triton.repository / "recaug_remote").exists()  # nothing was written to the server's folder
    with pytest.raises(DeployFailed):
        deploy(settings, corrupt_copy(artifacts["v2"], triton.home / "remote-broken", b"\x00" * 64))
    np.testing.assert_array_equal(_infer(triton, "recaug_remote", load_export(artifacts["v1"]))["top_ids"], ids)


def test_restart_serves_what_was_deployed_and_cli_reports_status(triton, serving_settings, artifacts, capsys):
    from recaug.cli import main

    name = serving_settings.deploy.model_name
    deploy(serving_settings, artifacts["v2"])  # live already (no-op), or deployed when run alone
    live = live_record(serving_settings)
    triton.stop()
    assert not triton.status().running
    triton.start()
    from recaug.deploy.client import triton_client, wait_until_ready

    with triton_client(triton.read_state().http_url) as client:
        assert wait_until_ready(client, name, live.version, 60)
    args = ["--lake", serving_settings.lake_root]
    assert main(["serve", "triton", "status", *args]) == 0
    printed = capsys.readouterr().out
    status = json.loads(printed)
    assert status["ready"] and any(m["name"] == name and m["state"] == "READY" for m in status["models"])
    assert triton.read_state().admin_key not in printed and "admin_key" not in status["state"]
    assert triton.read_state().admin_key not in repr(triton.read_state())


def test_model_control_needs_the_admin_key_from_the_private_state_file(triton, serving_settings, artifacts):
    """The real server refuses load/unload/index without the per-start key; inference stays open."""
    import stat

    import tritonclient.grpc as grpc
    import tritonclient.http as http
    from tritonclient.utils import InferenceServerException

    deploy(serving_settings, artifacts["v2"])  # with the key (from server.json) deploy works
    state = triton.read_state()
    assert len(state.admin_key) >= 32
    assert stat.S_IMODE(os.stat(triton.state_file).st_mode) == 0o600
    name = serving_settings.deploy.model_name
    client = http.InferenceServerClient(state.http_url)
    try:
        with pytest.raises(InferenceServerException, match="restricted"):
            client.unload_model(name)
        with pytest.raises(InferenceServerException, match="restricted"):
            client.load_model(name)
        with pytest.raises(InferenceServerException, match="restricted"):
            client.get_model_repository_index(headers={"recaug-admin-key": "wrong"})
        assert client.is_model_ready(name)  # the refused unload changed nothing
        ids2, _ = _expected(artifacts["v2"])
        np.testing.assert_array_equal(_infer(triton, name, load_export(artifacts["v2"]))["top_ids"], ids2)
        assert client.get_model_repository_index(headers=state.admin_headers)
    finally:
        client.close()
    channel = grpc.InferenceServerClient(state.grpc_url)
    try:
        with pytest.raises(InferenceServerException, match="restricted|PERMISSION|Unavailable|expecting"):
            channel.unload_model(name)
        assert channel.is_model_ready(name)
    finally:
        channel.close()


def test_triton_and_its_model_processes_get_no_parent_secrets(serving_settings, artifacts, tmp_path, monkeypatch):
    """Secrets in the parent environment never reach tritonserver or its python-backend stubs
    (an own server and lake: the shared one was started before these variables were set)."""
    import subprocess

    from recaug.deploy.server import LocalTritonServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "jwt-secret-must-not-leak")
    settings = serving_settings.model_copy(update={"lake_root": str(tmp_path / "lake")}, deep=True)
    settings.deploy.target.home = str(tmp_path / "triton")
    server = LocalTritonServer.from_settings(settings)
    state = server.start()
    try:
        assert deploy(settings, artifacts["v1"]).outcome == "deployed"  # a python-backend stub now runs the model
        group = subprocess.run(["pgrep", "-g", str(state.pid)], capture_output=True, text=True).stdout.split()
        stubs = [p for p in group if b"triton_python_backend_stub" in open(f"/proc/{p}/cmdline", "rb").read()]
        assert stubs
        for pid in {state.pid, *map(int, group)}:
            environ = dict(entry.split("=", 1) for entry in
                           open(f"/proc/{pid}/environ", "rb").read().decode().split("\0") if "=" in entry)
            assert "OPENAI_API_KEY" not in environ and "AIRFLOW__API_AUTH__JWT_SECRET" not in environ
            assert not any("must-not-leak" in value for value in environ.values())
            assert environ["HOME"] == str(server.home)
    finally:
        server.stop()
