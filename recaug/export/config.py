"""Configuration of the ONNX export."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ExportConfig(BaseModel):
    top_k: int = Field(20, description="items returned per request by the exported model")
