"""Triton model repository: config.pbtxt and version folders for the exported model.

Two flavours of the same model.onnx:
- `python`: a python-backend model (serving/triton/model.py) that runs onnxruntime in
  the serving venv; what the bundled tritonserver can run.
- `onnxruntime`: `platform: "onnxruntime_onnx"`, what production Triton runs (GPU or CPU).

Configs are built as Triton's own ModelConfig protobuf (from tritonclient), so field
names are checked, and rendered both as config.pbtxt text and as the JSON that the
repository API's load_model(config=...) takes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recaug import io
from recaug.errors import RecaugError

if TYPE_CHECKING:
    from recaug.deploy.config import ServedModelConfig

CONFIG_FILE = "config.pbtxt"
PYTHON_MODEL_TEMPLATE = Path(__file__).resolve().parents[2] / "serving" / "triton" / "model.py"


class RepositoryError(RecaugError):
    """The model repository is unusable (missing template, unreadable folder)."""


def model_config(name: str, model_format: str, served: "ServedModelConfig", top_k: int, hidden_size: int,
                 user_inputs: dict[str, int] | None = None):
    """Triton ModelConfig (protobuf) for the exported model; dims exclude the batch axis.
    `user_inputs`: the user tower's inputs (export.json's name -> width), none without a tower."""
    from tritonclient.grpc import model_config_pb2 as pb

    from recaug.models.user_spec import INPUT_TYPES

    config = pb.ModelConfig(name=name, max_batch_size=served.max_batch_size)
    if model_format == "python":
        config.backend = "python"
        config.parameters["intra_op_threads"].string_value = str(served.onnx_threads)
        config.parameters["onnx_file"].string_value = "model.onnx"
        kind = pb.ModelInstanceGroup.KIND_CPU
    elif model_format == "onnxruntime":
        config.platform = "onnxruntime_onnx"
        kind = pb.ModelInstanceGroup.KIND_GPU if served.instance_kind == "gpu" else pb.ModelInstanceGroup.KIND_CPU
        if kind == pb.ModelInstanceGroup.KIND_CPU:  # else ORT spreads one batch-1 call over every core
            config.parameters["intra_op_thread_count"].string_value = str(served.onnx_threads)
            config.parameters["inter_op_thread_count"].string_value = "1"
    else:
        raise RepositoryError(f"unknown model format {model_format!r}; expected python or onnxruntime")
    config.version_policy.latest.num_versions = served.versions_loaded
    config.input.add(name="history", data_type=pb.TYPE_INT64, dims=[-1])
    config.input.add(name="timestamps", data_type=pb.TYPE_INT64, dims=[-1])
    now = config.input.add(name="now", data_type=pb.TYPE_INT64, dims=[1])
    now.reshape.SetInParent()  # clients send [B, 1]; the model takes [B]
    types = {"int64": pb.TYPE_INT64, "float32": pb.TYPE_FP32}
    for input_name, width in (user_inputs or {}).items():
        if input_name not in INPUT_TYPES:
            raise RepositoryError(f"unknown user input {input_name!r} in export.json; expected some of "
                                  f"{list(INPUT_TYPES)} (exported by a newer recaug?)")
        config.input.add(name=input_name, data_type=types[INPUT_TYPES[input_name]], dims=[int(width)])
    config.output.add(name="top_ids", data_type=pb.TYPE_INT64, dims=[top_k])
    config.output.add(name="top_scores", data_type=pb.TYPE_FP32, dims=[top_k])
    config.output.add(name="user_vector", data_type=pb.TYPE_FP32, dims=[hidden_size])
    if served.dynamic_batching:
        config.dynamic_batching.max_queue_delay_microseconds = served.max_queue_delay_us
        config.dynamic_batching.preferred_batch_size.extend(
            size for size in served.preferred_batch_sizes if size <= served.max_batch_size
        )
    config.instance_group.add(count=served.instances, kind=kind)
    return config


def to_pbtxt(config) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(config)


def to_json(config) -> str:
    from google.protobuf import json_format

    return json_format.MessageToJson(config, preserving_proto_field_name=True)


def version_files(artifact_dir: str, model_format: str) -> dict[str, bytes]:
    """Files of one version folder, by name."""
    files = {"model.onnx": io.read_bytes(io.join(artifact_dir, "model.onnx"))}
    if model_format == "python":
        if not PYTHON_MODEL_TEMPLATE.is_file():
            raise RepositoryError(f"python-backend template {PYTHON_MODEL_TEMPLATE} is missing (serving/ not installed?)")
        files["model.py"] = PYTHON_MODEL_TEMPLATE.read_bytes()
    return files


class LocalRepository:
    """A model repository folder that a Triton server reads (explicit model control)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def config_text(self, name: str) -> str | None:
        path = self.root / name / CONFIG_FILE
        return path.read_text() if path.is_file() else None

    def write_config(self, name: str, text: str) -> None:
        io.write_text(str(self.root / name / CONFIG_FILE), text)

    def write_version(self, name: str, version: int, files: dict[str, bytes]) -> Path:
        """Create `<name>/<version>/` whole or not at all (staged folder + rename)."""
        target = self.root / name / str(version)
        if target.exists():
            raise RepositoryError(f"{target} already exists; versions are never overwritten")
        staging = self.root / name / f".{version}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for filename, data in files.items():
            (staging / filename).write_bytes(data)
        os.replace(staging, target)
        return target

    def remove_version(self, name: str, version: int) -> None:
        shutil.rmtree(self.root / name / str(version), ignore_errors=True)

    def remove_model(self, name: str) -> None:
        shutil.rmtree(self.root / name, ignore_errors=True)

    def prune(self, name: str, keep: int) -> list[int]:
        """Delete all but the newest `keep` versions; returns the removed ones."""
        removed = self.versions(name)[:-keep]
        for version in removed:
            self.remove_version(name, version)
        return removed

    def describe(self) -> dict[str, Any]:
        if not self.root.is_dir():
            return {}
        return {p.name: self.versions(p.name) for p in sorted(self.root.iterdir()) if p.is_dir()}
