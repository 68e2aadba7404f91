"""Exports a sentence-transformers encoder to ONNX and quantises it.

The exported graph is the whole encoder: transformer, mean pooling over real tokens
and L2 normalisation, with dynamic batch and sequence axes (dynamo exporter; the
legacy one bakes the traced sequence length into reshapes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "sentence_embedding"
BLOCK_SIZE = 32  # 128 was batch-dependent and less accurate on MiniLM (min cosine 0.995 vs 0.998)


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


def export_fp32(st_model, target: Path, opset: int, max_seq_length: int) -> None:
    """Write the fp32 ONNX graph of `st_model` (on CPU) to `target`."""
    import torch

    check_exportable(st_model)
    module = _pooled_module(st_model.transformers_model.to("cpu").float())
    example = st_model.tokenizer(
        ["an example text for tracing", "two"], padding=True, return_tensors="pt"
    )
    batch = torch.export.Dim("batch", min=1, max=65536)
    seq = torch.export.Dim("seq", min=1, max=max_seq_length)
    with torch.inference_mode(), warnings.catch_warnings():
        # The exporter warns about axis renaming and deprecated pytree specs: noise for users.
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        program = torch.onnx.export(
            module,
            (example["input_ids"], example["attention_mask"]),
            dynamo=True,
            opset_version=opset,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
            optimize=True,
            verbose=False,
        )
    program.save(str(target))


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
    with _quiet_quantizer():
        quantizer.process()
        quantizer.model.save_model_to_file(str(target))
    return len(nodes)


def quantize_dynamic_int8(source: Path, target: Path, keep_fp32: list[str]) -> int:
    """Dynamic int8 quantisation, per output channel, of the weight MatMuls except `keep_fp32`.

    Returns the number of quantised MatMuls.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = [name for name in weight_matmuls(source) if name not in set(keep_fp32)]
    with _quiet_quantizer():
        quantize_dynamic(
            str(source), str(target), per_channel=True, weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes,
        )
    if not target.is_file() or os.path.getsize(target) == 0:
        raise RuntimeError(f"quantisation wrote no model to {target}")
    return len(nodes)


class _RootChatter(logging.Filter):
    """onnxruntime's quantizers log per-tensor notes and a generic hint on the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_quantizer():
    root, package = logging.getLogger(), logging.getLogger("onnxruntime.quantization")
    quiet, level = _RootChatter(), package.level
    root.addFilter(quiet)
    package.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeFilter(quiet)
        package.setLevel(level)
