"""int8 weights behind DequantizeLinear: the graph edit the OpenVINO encoder's int8 variant rests on."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from recaug.embed.onnx_export import int8_weights_with_dequantize


def _graph(path, shared, own, bias):
    """x @ shared -> relu -> @ shared (the weight used twice) ; x @ own ; + bias (1-D, left alone)."""
    nodes = [
        helper.make_node("MatMul", ["x", "shared"], ["h"], name="first"),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "shared"], ["a"], name="second"),
        helper.make_node("MatMul", ["x", "own"], ["b"], name="third"),
        helper.make_node("Add", ["a", "b"], ["s"]),
        helper.make_node("Add", ["s", "bias"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])],
        [numpy_helper.from_array(shared, "shared"), numpy_helper.from_array(own, "own"),
         numpy_helper.from_array(bias, "bias")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def _run(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_weights_become_int8_per_output_channel_and_outputs_stay_close(tmp_path):
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(8, 8)).astype(np.float32)
    own = (rng.normal(size=(8, 8)) * np.array([1e-3, 1, 10, 100, 1, 1, 1, 0])).astype(np.float32)  # one column all zero
    bias = rng.normal(size=8).astype(np.float32)
    _graph(tmp_path / "float.onnx", shared, own, bias)

    assert int8_weights_with_dequantize(tmp_path / "float.onnx", tmp_path / "int8.onnx") == 2  # shared counted once

    model = onnx.load(str(tmp_path / "int8.onnx"))
    onnx.checker.check_model(model)
    stored = {init.name: init for init in model.graph.initializer}
    assert {"shared", "own"}.isdisjoint(stored) and "bias" in stored  # no float copy left; 1-D tensors untouched
    assert stored["shared.int8"].data_type == TensorProto.INT8 and list(stored["own.scale"].dims) == [8]
    matmuls = {n.name: n.input[1] for n in model.graph.node if n.op_type == "MatMul"}
    assert matmuls == {"first": "shared.dequantized", "second": "shared.dequantized", "third": "own.dequantized"}

    x = rng.normal(size=(5, 8)).astype(np.float32)
    exact, quantized = _run(tmp_path / "float.onnx", x), _run(tmp_path / "int8.onnx", x)
    np.testing.assert_allclose(quantized, exact, rtol=0.05, atol=0.05 * np.abs(exact).max())
    # each column is scaled by its own maximum: the 1e-3 column keeps its precision
    dequantized = numpy_helper.to_array(stored["own.int8"]) * numpy_helper.to_array(stored["own.scale"])
    half_step = np.abs(own).max(axis=0) / 127 / 2
    assert (np.abs(dequantized - own) <= half_step * 1.0001 + 1e-12).all()
