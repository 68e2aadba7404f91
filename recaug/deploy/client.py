"""tritonclient helpers shared by deploy, the gateway and the CLI."""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

from recaug.errors import RecaugError


class TritonUnavailable(RecaugError):
    """Triton cannot be reached or did not answer in time."""


@contextlib.contextmanager
def triton_client(url: str, timeout_s: float = 30.0) -> Iterator[object]:
    import tritonclient.http as http

    client = http.InferenceServerClient(url, connection_timeout=timeout_s, network_timeout=timeout_s)
    try:
        yield client
    finally:
        client.close()


def wait_until_ready(client, name: str, version: int | None, timeout_s: float,
                     server_alive: Callable[[], bool] | None = None) -> bool:
    """Poll readiness of one model version; False after `timeout_s`. Raises TritonUnavailable
    as soon as `server_alive` says the server itself is gone (no point waiting out the deadline)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if client.is_model_ready(name, "" if version is None else str(version)):
                return True
        except Exception as exc:  # connection hiccups while the server loads: keep polling unless it died
            if server_alive is not None and not server_alive():
                raise TritonUnavailable(f"Triton stopped while loading {name} version {version}: {exc}") from exc
        time.sleep(0.1)
    return False


def infer_http(client, name: str, inputs: dict, version: int | None = None):
    """One inference: history/timestamps [B, L], now [B] and the user tower's inputs when
    `inputs` has them (recaug.models.user_spec.INPUT_TYPES) -> dict of numpy outputs."""
    import numpy as np
    import tritonclient.http as http

    arrays = {
        "history": np.ascontiguousarray(inputs["history"], dtype=np.int64),
        "timestamps": np.ascontiguousarray(inputs["timestamps"], dtype=np.int64),
        "now": np.ascontiguousarray(np.asarray(inputs["now"], dtype=np.int64).reshape(-1, 1)),
        **user_arrays(inputs),
    }
    tensors = []
    for key, value in arrays.items():
        tensor = http.InferInput(key, list(value.shape), triton_dtype(value))
        tensor.set_data_from_numpy(value)
        tensors.append(tensor)
    outputs = [http.InferRequestedOutput(n) for n in ("top_ids", "top_scores", "user_vector")]
    result = client.infer(name, tensors, model_version="" if version is None else str(version), outputs=outputs)
    return {n: result.as_numpy(n) for n in ("top_ids", "top_scores", "user_vector")}


def user_arrays(inputs: dict) -> dict:
    """The user tower inputs among `inputs` (lists or arrays), as contiguous arrays of their types."""
    import numpy as np

    from recaug.models.user_spec import INPUT_TYPES

    return {name: np.ascontiguousarray(np.asarray(inputs[name], dtype=dtype))
            for name, dtype in INPUT_TYPES.items() if name in inputs}


def triton_dtype(array) -> str:
    return {"int64": "INT64", "float32": "FP32"}[str(array.dtype)]
