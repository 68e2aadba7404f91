"""Configuration of serving: the Triton target, the model it serves and the gateway.

The target is chosen by `type` (the way Feast picks an online store):
`local` runs the tritonserver binary bundled in nvidia-pytriton on this machine,
`remote` talks to an existing Triton (production, GPU nodes) by URL.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field

ModelFormat = Literal["python", "onnxruntime"]


class LocalTritonConfig(BaseModel):
    type: Literal["local"] = "local"
    home: str | None = Field(
        None, description="server folder (model repository, backends, log, state file); default <lake_root>/../triton"
    )
    serving_venv: str = Field(
        ".venv-serving",
        description="model environment (onnxruntime, numpy<2, nvidia-pytriton); relative paths are from the project root",
    )
    http_port: int = Field(0, ge=0, description="HTTP port on 127.0.0.1; 0 picks a free port at start")
    grpc_port: int = Field(0, ge=0, description="gRPC port on 127.0.0.1; 0 picks a free port at start")
    metrics_port: int = Field(0, ge=0, description="metrics port on 127.0.0.1; 0 picks a free port at start")
    start_timeout_s: float = Field(60.0, gt=0, description="how long `serve triton start` waits for readiness")
    stop_timeout_s: float = Field(30.0, gt=0, description="grace period after SIGTERM before SIGKILL")
    model_format: ModelFormat = Field(
        "python", description="python: python-backend model running onnxruntime (the bundled binary has no ORT backend)"
    )


class RemoteTritonConfig(BaseModel):
    type: Literal["remote"] = "remote"
    url: str = Field("127.0.0.1:8000", description="host:port of Triton's HTTP endpoint")
    grpc_url: str | None = Field(
        None, description="host:port of Triton's gRPC endpoint; the gateway calls Triton over gRPC when set, else HTTP"
    )
    model_format: ModelFormat = Field(
        "onnxruntime", description="onnxruntime: platform onnxruntime_onnx (production); python: python-backend model"
    )
    admin_header: str = Field(
        "recaug-admin-key", description="header the server's restricted model-control API expects (--*-restricted-*)"
    )
    admin_key_env: str | None = Field(
        None, description="environment variable holding that header's value; unset: send no admin header"
    )


TritonTargetConfig = Annotated[Union[LocalTritonConfig, RemoteTritonConfig], Field(discriminator="type")]


class ServedModelConfig(BaseModel):
    """What goes into config.pbtxt."""

    max_batch_size: int = Field(64, ge=1, description="largest batch Triton forms or accepts")
    dynamic_batching: bool = Field(True, description="let Triton merge concurrent requests into one batch")
    max_queue_delay_us: int = Field(
        0, ge=0, description="how long a request may wait for others to batch with; 0 batches only what queued "
        "while a batch ran, so a lone request never waits: on the 2-core bench machine (quiet) 757 req/s at one "
        "client vs 454 with 500 us, and as much at 32 clients (2,404 vs 2,190; bench/bench_serving.py --only-tuning)",
    )
    preferred_batch_sizes: list[int] = Field(
        [8, 16],
        description="batch sizes the dynamic batcher aims for; on CPU onnxruntime is cheapest per request "
        "around 8-16 histories (bench/bench_serving.py), GPUs prefer larger",
    )
    instances: int = Field(1, ge=1, description="model instances (python-backend processes / ORT sessions)")
    instance_kind: Literal["cpu", "gpu"] = Field(
        "cpu", description="instance group kind for the onnxruntime platform (gpu on production GPU nodes)"
    )
    onnx_threads: int = Field(
        1, ge=1, description="onnxruntime intra-op threads per CPU instance (python backend, or the onnxruntime "
        "platform's intra_op_thread_count): 1 keeps a batch-1 call on one core instead of waking a pool",
    )
    versions_loaded: int = Field(
        2, ge=1, description="versions Triton keeps loaded (version_policy latest N); 2 keeps the replaced version "
        "answering while gateways switch to the new one (with 1, requests pinned to it fall back for a moment)",
    )


class GatewayConfig(BaseModel):
    host: str = Field("127.0.0.1", description="address the recommendation gateway binds")
    port: int = Field(8080, ge=0, description="gateway port (`recaug serve gateway --port` overrides)")
    artifact_dir: str | None = Field(
        None, description="model artifact whose vocabulary/titles to use; default: the one last deployed"
    )
    default_k: int = Field(10, ge=1, description="items returned when the request has no k")
    triton_timeout_s: float = Field(
        2.0, gt=0, description="deadline of one Triton call (gRPC when the target has a gRPC address, else HTTP)"
    )
    features_timeout_s: float = Field(2.0, gt=0, description="timeout of one online feature lookup")
    default_diversity: float | None = Field(
        None, ge=0.0, le=1.0, description="MMR weight of requests without `diversity`; None = the weight chosen on "
        "validation for the answering version (its metrics.json `mmr.chosen_weight`; 0 when it has none)"
    )
    mmr_candidates: int = Field(
        0, ge=0, description="candidates re-ranked by MMR when diversity > 0 (0 = all K from the model)"
    )
    item_cache_ttl_s: float = Field(
        60.0, ge=0, description="how long item titles/embeddings read from the online store are reused (0 = never)"
    )
    item_cache_size: int = Field(10_000, ge=0, description="items kept in that cache (least recently used go first)")
    popular_window_days: int = Field(
        30, ge=1, description="cold-start answer: most interacted items over this many days before the newest event"
    )
    segment_min_users: int = Field(
        20, ge=1, description="cold users who declared attributes get popular items of their segments (region, "
        "occupation, gender, age band); a segment with fewer users active in the popularity window is not used, "
        "and a user left with no segment gets global popularity"
    )
    segment_age_bands: int = Field(
        4, ge=1, description="age segments: this many bands, cut at quantiles of the declared ages (1 = no age segments)"
    )
    segment_combination: Literal["sum", "most_specific", "off"] = Field(
        "sum", description="how a cold user's declared attributes pick items (recaug.serving_gateway.segments): "
        "sum = the item shares of their single-attribute segments summed; most_specific = the segment of the most of "
        "their attributes together with enough users (sharper when attributes carry taste, worse when they do not: "
        "bench/bench_profiles.py); off = global popularity for every cold user"
    )
    segment_items_kept: int = Field(
        500, ge=1, description="most interacted items kept per segment (global popularity follows them)"
    )
    records_check_interval_s: float = Field(
        0.5, ge=0, description="how often a request may trigger a (background) look at the deploy records folder "
        "for a new live version; 0 = on every request",
    )
    vocabularies_kept: int = Field(
        4, ge=1, description="model versions whose vocabulary stays in memory (the live one, the one it replaced, ...)"
    )
    breaker_cooldown_s: float = Field(
        1.0, ge=0, description="after a dependency failed, answer without it for this long, then let one request "
        "probe it; 0 = probe on every request",
    )
    popular_titles_kept: int = Field(
        500, ge=0, description="titles of the most popular items read from the lake at start, for fallback answers "
        "served without the feature store",
    )
    warning_interval_s: float = Field(
        5.0, ge=0, description="at most one warning per fallback source in this time (with the count since the last)"
    )


class DeployConfig(BaseModel):
    enabled: bool = Field(True, description="push an approved model to Triton")
    model_name: str = Field("recaug_seq", description="model name in Triton's repository")
    target: TritonTargetConfig = Field(LocalTritonConfig(), description="where the model is served (type: local|remote)")
    served: ServedModelConfig = Field(ServedModelConfig(), description="config.pbtxt settings")
    ready_timeout_s: float = Field(60.0, gt=0, description="how long a loaded version may take to become ready")
    smoke_tolerance: float = Field(1e-4, gt=0, description="largest |score difference| from export.json's reference")
    keep_versions: int = Field(3, ge=1, description="version folders kept in a local repository (older are pruned)")
    gateway: GatewayConfig = Field(GatewayConfig(), description="the recommendation gateway (`recaug serve gateway`)")
