"""Triton python-backend model: serves recaug's model.onnx with onnxruntime.

Copied verbatim next to model.onnx in every version directory
(`<repository>/<model>/<version>/model.py`) by recaug.deploy.repository. It runs in
the serving environment (.venv-serving: onnxruntime, numpy<2), not in recaug's venv,
and imports nothing from recaug. Used where Triton has no onnxruntime backend (the
binary bundled in nvidia-pytriton); production Triton serves the same model.onnx with
`platform: "onnxruntime_onnx"`.

Requests that arrive together (dynamic batching) run as one onnxruntime call. Triton's
dynamic batcher only groups requests whose inputs have the same shape (history and
timestamps are not marked `allow_ragged_batch`), so a batch never mixes history lengths
and no model (GRU4Rec included) sees padding it did not ask for. Each response
carries only the outputs its request asked for (Triton asks for all when a client names
none): every output tensor is a copy through shared memory, which is most of this model's
per-request cost once requests are batched.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

INPUTS = ("history", "timestamps", "now")
USER_INPUTS = ("user_categorical", "user_numeric", "user_profile")  # a model with a user tower takes some
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
        names = [i.name for i in self.session.get_inputs()]
        extra = [name for name in names if name not in INPUTS]
        if set(INPUTS) - set(names) or set(extra) - set(USER_INPUTS):
            raise pb_utils.TritonModelException(f"{path}: expected inputs {list(INPUTS)} and optionally some of "
                                                f"{list(USER_INPUTS)}, found {names}")
        self.inputs = INPUTS + tuple(extra)

    def execute(self, requests):
        arrays = [[pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.inputs] for r in requests]
        feed = {name: np.concatenate([values[i] for values in arrays]) for i, name in enumerate(self.inputs)}
        feed["now"] = feed["now"].reshape(-1)  # clients send [B, 1]
        outputs = self.session.run(list(OUTPUTS), feed)
        responses, start = [], 0
        for request, values in zip(requests, arrays):
            stop = start + values[0].shape[0]
            wanted = set(request.requested_output_names())
            tensors = [pb_utils.Tensor(name, value[start:stop]) for name, value in zip(OUTPUTS, outputs) if name in wanted]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = stop
        return responses

    def finalize(self):
        self.session = None

