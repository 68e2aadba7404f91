"""Exports a sentence-transformers encoder to ONNX, fuses it and quantises it.

The exported graph is the whole encoder: transformer, mean pooling over real tokens
and L2 normalisation, with dynamic batch and sequence axes. For onnxruntime it is traced
by the TorchScript exporter over eager attention, because onnxruntime's transformer
optimizer recognises that graph and fuses it (one Attention op per layer,
SkipLayerNormalization, BiasGelu, EmbedLayerNormalization): about 1.5x faster on CPU than
the unfused graph. The dynamo exporter's graph is not recognised by the fusion patterns.
For OpenVINO it is traced over SDPA and left unfused (OpenVINO fuses it when compiling).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "sentence_embedding"
BLOCK_SIZE = 32  # 128 was batch-dependent and less accurate on MiniLM (min cosine 0.995 vs 0.998)
FUSABLE_MODEL_TYPES = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "mpnet": "bert"}


class ExportUnsupported(Exception):
    """This model's pipeline is not the transformer → mean pooling → normalize we export."""


def check_exportable(st_model) -> None:
    """Raise ExportUnsupported unless the model is Transformer → mean Pooling (→ Normalize)."""
    kinds = [type(module).__name__ for module in st_model]
    if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        raise ExportUnsupported(f"module pipeline {kinds} (supported: Transformer, Pooling[, Normalize])")
    pooling = st_model[1]
    if pooling.pooling_mode != "mean":
        raise ExportUnsupported(f"pooling mode {pooling.pooling_mode!r} (supported: 'mean')")


def _pooled_module(transformer):
    import torch

    class MeanPooledEncoder(torch.nn.Module):
        """Transformer + mean over attended tokens + L2 normalisation (the ST forward pass)."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return MeanPooledEncoder(transformer).eval()


def export_fp32(st_model, target: Path, opset: int) -> bool:
    """Write the fp32 ONNX graph of `st_model` (on CPU) to `target`, fused where
    onnxruntime knows the architecture. Returns whether the graph was fused."""
    traced = target.with_name(target.stem + ".traced.onnx")
    hf_config = trace_onnx(st_model, traced, opset, attention="eager")  # SDPA traces into a graph the fusion does not match
    try:
        return _fuse(traced, target, hf_config)
    finally:
        traced.unlink(missing_ok=True)


def trace_onnx(st_model, target: Path, opset: int, attention: str):
    """Trace the whole encoder (in fp32, on CPU) into an unfused ONNX graph with dynamic
    batch and sequence axes, attention as the transformers `attention` implementation
    traces it. Returns the transformer's config."""
    import copy

    import torch

    check_exportable(st_model)
    transformer = copy.deepcopy(st_model.transformers_model).to("cpu").float()
    transformer.set_attn_implementation(attention)
    module = _pooled_module(transformer)
    example = st_model.tokenizer(["an example text for tracing", "two"], padding=True, return_tensors="pt")
    axes = {"batch": 0, "sequence": 1}
    with torch.inference_mode(), warnings.catch_warnings():
        # The TorchScript exporter warns that it is deprecated and about traced Python conditions
        # (the padding branch it traces is the general one): noise for users.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example["input_ids"], example["attention_mask"]),
            str(target),
            dynamo=False,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes={
                "input_ids": {i: name for name, i in axes.items()},
                "attention_mask": {i: name for name, i in axes.items()},
                OUTPUT_NAME: {0: "batch"},
            },
        )
    return transformer.config


def _fuse(source: Path, target: Path, hf_config) -> bool:
    """Fuse attention, layer norms and GELU with onnxruntime's transformer optimizer; an
    architecture it does not know is kept unfused (correct, just slower)."""
    model_type = FUSABLE_MODEL_TYPES.get(getattr(hf_config, "model_type", ""))
    if model_type is None:
        log.info("no fusion rules for model type %r: keeping the unfused graph", hf_config.model_type)
        os.replace(source, target)
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    with _quiet_onnxruntime_tools():
        optimized = optimize_model(
            str(source), model_type=model_type, num_heads=hf_config.num_attention_heads,
            hidden_size=hf_config.hidden_size, opt_level=0,
        )
    fused = optimized.get_fused_operator_statistics()
    if not fused.get("Attention"):
        log.info("onnxruntime found no attention to fuse in %s: keeping the unfused graph", hf_config.model_type)
        os.replace(source, target)
        return False
    optimized.save_model_to_file(str(target))
    log.info("fused the ONNX encoder: %s", ", ".join(f"{count} {op}" for op, count in fused.items() if count))
    return True


def ffn_output_matmuls(model_path: Path, intermediate_size: int, hidden_size: int) -> list[str]:
    """Names of the MatMuls with an [intermediate, hidden] weight: the feed-forward
    output projections, whose post-GELU inputs are what int8 handles worst."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    return [
        node.name
        for node in model.graph.node
        if node.op_type == "MatMul" and shapes.get(node.input[1]) == (intermediate_size, hidden_size)
    ]


def weight_matmuls(model_path: Path) -> list[str]:
    """Names of the MatMuls whose second input is a stored weight (activation x activation
    products such as attention scores stay in float)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    return [node.name for node in model.graph.node if node.op_type == "MatMul" and node.input[1] in weights]


def quantize_blockwise_int8(source: Path, target: Path) -> int:
    """8-bit weights in blocks of 32 along the input axis (MatMulNBits), computed in int8
    per block (accuracy_level 4). Activations are quantised per row and block, so a
    text's vector does not depend on the other texts in its batch.

    Returns the number of quantised MatMuls.
    """
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    nodes = weight_matmuls(source)
    quantizer = MatMulNBitsQuantizer(
        str(source), bits=8, block_size=BLOCK_SIZE, is_symmetric=True, accuracy_level=4, nodes_to_include=nodes,
    )
    with _quiet_onnxruntime_tools():
        quantizer.process()
        quantizer.model.save_model_to_file(str(target))
    return len(nodes)


def attention_nodes(model_path: Path) -> list[str]:
    """Names of the fused Attention ops (their QKV projection is the weight product)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    return [node.name for node in model.graph.node if node.op_type == "Attention"]


def quantize_dynamic_int8(source: Path, target: Path, keep_fp32: list[str]) -> int:
    """Dynamic int8 quantisation, per output channel, of the weight MatMuls and fused
    attention projections except `keep_fp32`.

    Returns the number of quantised ops.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = [name for name in weight_matmuls(source) + attention_nodes(source) if name not in set(keep_fp32)]
    with _quiet_onnxruntime_tools():
        quantize_dynamic(
            str(source), str(target), per_channel=True, weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Attention"], nodes_to_quantize=nodes,
            # Shape inference cannot type the outputs of fused (contrib) ops: they are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    if not target.is_file() or os.path.getsize(target) == 0:
        raise RuntimeError(f"quantisation wrote no model to {target}")
    return len(nodes)


def int8_weights_with_dequantize(source: Path, target: Path) -> int:
    """Store every 2-D MatMul weight as int8, symmetric per output channel, behind a
    DequantizeLinear: the compressed-weight pattern OpenVINO runs as int8 products when
    it also quantises the activations at run time (per row, in groups). No calibration
    data is involved. Returns the number of compressed weights."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    weights = {init.name: init for init in model.graph.initializer}
    dequantized: dict[str, str] = {}  # weight name -> its DequantizeLinear output (a weight may be shared)
    nodes = []
    for node in model.graph.node:
        name = node.input[1] if node.op_type == "MatMul" and len(node.input) == 2 else None
        if name in weights and len(weights[name].dims) == 2 and name not in dequantized:
            values = numpy_helper.to_array(weights[name])
            scale = np.abs(values).max(axis=0) / 127.0
            scale[scale == 0] = 1.0
            quantized = np.clip(np.round(values / scale), -127, 127).astype(np.int8)
            model.graph.initializer.remove(weights[name])
            model.graph.initializer.extend([numpy_helper.from_array(quantized, f"{name}.int8"),
                                            numpy_helper.from_array(scale.astype(np.float32), f"{name}.scale")])
            nodes.append(helper.make_node("DequantizeLinear", [f"{name}.int8", f"{name}.scale"],
                                          [f"{name}.dequantized"], axis=1, name=f"{name}.dequantize"))
            dequantized[name] = f"{name}.dequantized"
        if name in dequantized:
            node.input[1] = dequantized[name]
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(target))
    return len(dequantized)


@contextlib.contextmanager
def _quiet_onnxruntime_tools():
    """onnxruntime's optimizer and quantizers log per-node notes and generic hints (on the
    root and module-named loggers) and print shape-inference chatter: noise for users.
    Errors still surface as exceptions."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)
