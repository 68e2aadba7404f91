"""Configuration of the ONNX export (`settings.export.*`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ExportConfig(BaseModel):
    top_k: int = Field(20, ge=1, description="items returned per request by the exported model (K of top_ids)")
    exclude_history: bool = Field(
        True, description="never return items already in the request's history (padding index 0 is always excluded)"
    )
    opset: int = Field(18, ge=18, description="ONNX opset of the exported graph (the dynamo exporter needs >= 18)")
    parity_batch_sizes: list[int] = Field(
        [1, 3, 16], description="batch sizes at which onnxruntime is compared with torch"
    )
    parity_lengths: list[int] = Field(
        [1, 7, 50], description="history lengths at which onnxruntime is compared with torch (capped at max_length)"
    )
    parity_tolerance: float = Field(1e-4, gt=0, description="largest allowed |score difference| between torch and ONNX")
    reference_batch: int = Field(4, ge=1, description="requests in export.json's reference input (deploy smoke test)")
    seed: int = Field(0, description="seed of the synthetic parity and reference inputs")
