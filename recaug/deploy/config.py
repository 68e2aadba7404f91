"""Configuration of the Triton deploy target."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DeployConfig(BaseModel):
    enabled: bool = Field(True, description="push an approved model to Triton")
    model_name: str = "recaug_seq"
