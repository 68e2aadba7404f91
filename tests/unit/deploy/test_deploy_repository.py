from __future__ import annotations

import json

import pytest
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2 as pb

from recaug.deploy.config import ServedModelConfig
from recaug.deploy.repository import (
    PYTHON_MODEL_TEMPLATE,
    LocalRepository,
    RepositoryError,
    model_config,
    to_json,
    to_pbtxt,
    version_files,
)


def _parse(text: str) -> pb.ModelConfig:
    return text_format.Parse(text, pb.ModelConfig())


def _io(config) -> dict:
    return {t.name: (t.data_type, list(t.dims)) for t in [*config.input, *config.output]}


def test_python_backend_config_for_the_bundled_server():
    served = ServedModelConfig(max_batch_size=32, max_queue_delay_us=150, instances=2, onnx_threads=3)
    config = _parse(to_pbtxt(model_config("recaug_seq", "python", served, top_k=20, hidden_size=64)))
    assert config.name == "recaug_seq" and config.backend == "python" and config.platform == ""
    assert config.max_batch_size == 32
    assert _io(config) == {
        "history": (pb.TYPE_INT64, [-1]), "timestamps": (pb.TYPE_INT64, [-1]), "now": (pb.TYPE_INT64, [1]),
        "top_ids": (pb.TYPE_INT64, [20]), "top_scores": (pb.TYPE_FP32, [20]), "user_vector": (pb.TYPE_FP32, [64]),
    }
    now = next(i for i in config.input if i.name == "now")
    assert now.HasField("reshape") and list(now.reshape.shape) == []  # [B, 1] on the wire, [B] for the model
    assert config.dynamic_batching.max_queue_delay_microseconds == 150
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 16]
    assert [(g.count, g.kind) for g in config.instance_group] == [(2, pb.ModelInstanceGroup.KIND_CPU)]
    assert config.parameters["intra_op_threads"].string_value == "3"
    assert config.version_policy.latest.num_versions == 2


def test_onnxruntime_platform_config_for_production_triton():
    served = ServedModelConfig(max_batch_size=128, max_queue_delay_us=500, instance_kind="gpu", versions_loaded=2,
                               preferred_batch_sizes=[32, 64, 256])
    config = _parse(to_pbtxt(model_config("recaug_seq", "onnxruntime", served, top_k=10, hidden_size=32)))
    assert config.platform == "onnxruntime_onnx" and config.backend == ""
    assert config.max_batch_size == 128
    assert _io(config)["top_ids"] == (pb.TYPE_INT64, [10]) and _io(config)["user_vector"] == (pb.TYPE_FP32, [32])
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert list(config.dynamic_batching.preferred_batch_size) == [32, 64]  # never above max_batch_size
    assert [g.kind for g in config.instance_group] == [pb.ModelInstanceGroup.KIND_GPU]
    assert config.version_policy.latest.num_versions == 2
    assert "intra_op_threads" not in config.parameters


def test_no_dynamic_batching_when_disabled_and_json_matches_text():
    config = model_config("m", "onnxruntime", ServedModelConfig(dynamic_batching=False), top_k=5, hidden_size=8)
    assert not _parse(to_pbtxt(config)).HasField("dynamic_batching")
    from_json = json_format.Parse(to_json(config), pb.ModelConfig())
    assert from_json == _parse(to_pbtxt(config))
    assert json.loads(to_json(config))["platform"] == "onnxruntime_onnx"


def test_zero_queue_delay_still_turns_dynamic_batching_on():
    """Delay 0 batches only the requests that queued while the instance was busy (batch-1
    latency of an unbatched model, batching under load): the block must not vanish with it."""
    served = ServedModelConfig(max_queue_delay_us=0, preferred_batch_sizes=[])
    config = model_config("m", "python", served, top_k=5, hidden_size=8)
    parsed = _parse(to_pbtxt(config))
    assert parsed.HasField("dynamic_batching") and parsed.dynamic_batching.max_queue_delay_microseconds == 0
    assert json_format.Parse(to_json(config), pb.ModelConfig()).HasField("dynamic_batching")


def test_onnxruntime_cpu_instances_get_the_configured_thread_counts():
    served = ServedModelConfig(onnx_threads=1)
    cpu = _parse(to_pbtxt(model_config("m", "onnxruntime", served, top_k=5, hidden_size=8)))
    assert cpu.parameters["intra_op_thread_count"].string_value == "1"
    assert cpu.parameters["inter_op_thread_count"].string_value == "1"
    gpu = _parse(to_pbtxt(model_config("m", "onnxruntime", served.model_copy(update={"instance_kind": "gpu"}),
                                       top_k=5, hidden_size=8)))
    assert "intra_op_thread_count" not in gpu.parameters


def test_unknown_model_format_is_rejected():
    with pytest.raises(RepositoryError, match="unknown model format 'tensorrt'"):
        model_config("m", "tensorrt", ServedModelConfig(), top_k=5, hidden_size=8)


def test_version_files_carry_the_python_model_only_for_the_python_backend(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"onnx-bytes")
    assert version_files(str(tmp_path), "onnxruntime") == {"model.onnx": b"onnx-bytes"}
    files = version_files(str(tmp_path), "python")
    assert files["model.py"] == PYTHON_MODEL_TEMPLATE.read_bytes()
    assert b"class TritonPythonModel" in files["model.py"]


def test_local_repository_versions_are_written_whole_and_never_overwritten(tmp_path):
    repository = LocalRepository(tmp_path)
    assert repository.versions("m") == [] and repository.config_text("m") is None
    repository.write_version("m", 1, {"model.onnx": b"a", "model.py": b"b"})
    repository.write_config("m", "name: 'm'\n")
    assert sorted(p.name for p in (tmp_path / "m" / "1").iterdir()) == ["model.onnx", "model.py"]
    with pytest.raises(RepositoryError, match="already exists"):
        repository.write_version("m", 1, {"model.onnx": b"other"})
    assert (tmp_path / "m" / "1" / "model.onnx").read_bytes() == b"a"
    for version in (2, 3, 4):
        repository.write_version("m", version, {"model.onnx": b"x"})
    assert repository.prune("m", keep=2) == [1, 2]
    assert repository.versions("m") == [3, 4]
    assert not [p for p in (tmp_path / "m").iterdir() if p.name.startswith(".")]  # no staging leftovers
    assert repository.describe() == {"m": [3, 4]}


def test_user_tower_inputs_are_declared_with_their_types_and_widths():
    served = ServedModelConfig()
    config = _parse(to_pbtxt(model_config("m", "onnxruntime", served, top_k=5, hidden_size=8, user_inputs={
        "user_categorical": 3, "user_numeric": 1, "user_profile": 384})))
    assert [i.name for i in config.input] == ["history", "timestamps", "now", "user_categorical", "user_numeric",
                                              "user_profile"]
    assert _io(config)["user_categorical"] == (pb.TYPE_INT64, [3])
    assert _io(config)["user_numeric"] == (pb.TYPE_FP32, [1]) and _io(config)["user_profile"] == (pb.TYPE_FP32, [384])
    without = _parse(to_pbtxt(model_config("m", "onnxruntime", served, top_k=5, hidden_size=8, user_inputs={})))
    assert [i.name for i in without.input] == ["history", "timestamps", "now"]  # no tower: the contract as before
    with pytest.raises(RepositoryError, match="unknown user input 'user_mood'"):
        model_config("m", "python", served, top_k=5, hidden_size=8, user_inputs={"user_mood": 2})
