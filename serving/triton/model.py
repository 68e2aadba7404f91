"""Triton python-backend model: serves recaug's model.onnx with onnxruntime.

Copied verbatim next to model.onnx in every version directory
(`<repository>/<model>/<version>/model.py`) by recaug.deploy.repository. It runs in
the serving environment (.venv-serving: onnxruntime, numpy<2), not in recaug's venv,
and imports nothing from recaug. Used where Triton has no onnxruntime backend (the
binary bundled in nvidia-pytriton); production Triton serves the same model.onnx with
`platform: "onnxruntime_onnx"`.

Requests that arrive together (dynamic batching) run as one onnxruntime call: shorter
histories are left-padded with item 0, which the model treats as "no event".
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

INPUTS = ("history", "timestamps", "now")
OUTPUTS = ("top_ids", "top_scores", "user_vector")


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        path = os.path.join(args["model_repository"], args["model_version"], parameters.get("onnx_file", "model.onnx"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_threads", "1"))
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        names = {i.name for i in self.session.get_inputs()}
        if names != set(INPUTS):
            raise pb_utils.TritonModelException(f"{path}: expected inputs {sorted(INPUTS)}, found {sorted(names)}")

    def execute(self, requests):
        arrays = []
        for request in requests:
            history = pb_utils.get_input_tensor_by_name(request, "history").as_numpy()
            timestamps = pb_utils.get_input_tensor_by_name(request, "timestamps").as_numpy()
            now = pb_utils.get_input_tensor_by_name(request, "now").as_numpy().reshape(-1)
            arrays.append((history, timestamps, now))
        length = max(h.shape[1] for h, _, _ in arrays)
        feed = {
            "history": np.concatenate([_left_pad(h, length) for h, _, _ in arrays]),
            "timestamps": np.concatenate([_left_pad(t, length) for _, t, _ in arrays]),
            "now": np.concatenate([n for _, _, n in arrays]),
        }
        outputs = self.session.run(list(OUTPUTS), feed)
        responses, start = [], 0
        for history, _, _ in arrays:
            stop = start + history.shape[0]
            tensors = [pb_utils.Tensor(name, value[start:stop]) for name, value in zip(OUTPUTS, outputs)]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = stop
        return responses

    def finalize(self):
        self.session = None


def _left_pad(values, length):
    missing = length - values.shape[1]
    if missing == 0:
        return values
    return np.concatenate([np.zeros((values.shape[0], missing), dtype=values.dtype), values], axis=1)
