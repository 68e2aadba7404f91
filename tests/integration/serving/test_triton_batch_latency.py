"""Dynamic batching with queue delay 0 on the real tritonserver: the same answers as the
unbatched model, single requests run alone, concurrent ones are batched (issue #16.5)."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest

from recaug.deploy.deploy import deploy
from recaug.export.onnx import synthetic_requests

from serving_helpers import make_exported_artifact

pytestmark = pytest.mark.slow
ITEMS = [f"sku-{i}" for i in range(1, 41)]


@pytest.fixture(scope="module")
def two_configs(triton, serving_settings, serving_root):
    """One artifact served as `lat_unbatched` (no dynamic batching) and `lat_adaptive` (delay 0)."""
    artifact = make_exported_artifact(serving_settings, serving_root / "models" / "latency", ITEMS, seed=5)
    for name, batching in (("lat_unbatched", False), ("lat_adaptive", True)):
        variant = serving_settings.model_copy(deep=True)
        variant.deploy.model_name = name
        variant.deploy.served.dynamic_batching = batching
        variant.deploy.served.max_queue_delay_us = 0
        assert deploy(variant, artifact).outcome == "deployed"
    return triton.read_state()


def _call(url: str, name: str, inputs: dict) -> tuple[np.ndarray, np.ndarray]:
    import tritonclient.grpc as grpc

    client = grpc.InferenceServerClient(url)
    tensors = []
    for key in ("history", "timestamps", "now"):
        value = inputs[key] if key != "now" else inputs[key].reshape(-1, 1)
        tensor = grpc.InferInput(key, list(value.shape), "INT64")
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)
    result = client.infer(name, tensors, outputs=[grpc.InferRequestedOutput(n) for n in ("top_ids", "top_scores")])
    client.close()
    return result.as_numpy("top_ids"), result.as_numpy("top_scores")


def _executions(url: str, name: str) -> dict[int, int]:
    """Executions per batch size so far (Triton's statistics API)."""
    from recaug.deploy.client import triton_client

    with triton_client(url) as client:
        stats = client.get_inference_statistics(name)["model_stats"][0]
    return {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in stats.get("batch_stats", [])}


def _since(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    return {size: count - before.get(size, 0) for size, count in after.items() if count > before.get(size, 0)}


def test_both_configs_answer_identically(two_configs):
    for seed in range(4):
        inputs = synthetic_requests(len(ITEMS), 1, 12, seed=seed)
        plain_ids, plain_scores = _call(two_configs.grpc_url, "lat_unbatched", inputs)
        ids, scores = _call(two_configs.grpc_url, "lat_adaptive", inputs)
        np.testing.assert_array_equal(ids, plain_ids)
        np.testing.assert_allclose(scores, plain_scores, atol=1e-6)


def test_zero_delay_runs_a_lone_request_alone_and_batches_under_load(two_configs):
    url = two_configs.grpc_url
    inputs = [synthetic_requests(len(ITEMS), 1, 12, seed=seed) for seed in range(16)]
    expected = [_call(url, "lat_unbatched", one) for one in inputs]

    before = _executions(two_configs.http_url, "lat_adaptive")
    for one in inputs:  # one client: nothing ever queues behind the running request
        _call(url, "lat_adaptive", one)
    assert _since(before, _executions(two_configs.http_url, "lat_adaptive")) == {1: len(inputs)}

    before, batched = _executions(two_configs.http_url, "lat_adaptive"), {}
    with concurrent.futures.ThreadPoolExecutor(len(inputs)) as pool:
        for _ in range(20):  # bursts until requests queued behind a running one (the first burst, normally)
            answers = list(pool.map(lambda one: _call(url, "lat_adaptive", one), inputs))
            for (ids, scores), (plain_ids, plain_scores) in zip(answers, expected):
                np.testing.assert_array_equal(ids, plain_ids)
                np.testing.assert_allclose(scores, plain_scores, atol=1e-6)
            batched = {size: n for size, n in _since(before, _executions(two_configs.http_url, "lat_adaptive")).items()
                       if size > 1}
            if batched:
                break
    assert batched, "16 concurrent requests x 20 bursts never shared an execution: dynamic batching is off"
