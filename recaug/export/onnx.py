"""Export stage: artifact -> model.onnx + export.json, checked against torch.

The dynamo exporter keeps batch and history length symbolic (the legacy exporter bakes
the traced length into attention reshapes). Parity is measured with onnxruntime at
several batch sizes and lengths before anything is written, so a model.onnx on disk
always matches its torch checkpoint; export.json also carries a reference request and
its top-K, which the deploy smoke test replays against Triton. A model with a user tower
takes the tower's inputs as well (recaug.models.user_spec): parity, the reference request
and export.json's `user_inputs`/`user_features` (the spec the gateway encodes users with)
include them; a model without one keeps the three inputs.
The item-side evidence the gateway's explanations read (recaug.export.evidence) is written
beside model.onnx from the same torch model.
"""

from __future__ import annotations

import json
import logging
import warnings
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from recaug import io
from recaug.errors import RecaugError
from recaug.export.evidence import EVIDENCE_FILE, write_evidence
from recaug.export.model import OUTPUT_NAMES, input_names, top_k_module

if TYPE_CHECKING:
    import numpy as np

    from recaug.models.user_spec import UserFeatureSpec
    from recaug.settings import Settings

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
EXPORT_FILE = "export.json"
# Request time of the synthetic parity/reference inputs (fixed so exports are reproducible).
REFERENCE_NOW = 1_750_000_000


class ExportError(RecaugError):
    """The model cannot be exported, or the ONNX graph disagrees with torch."""


class ParityCheck(BaseModel):
    batch: int
    length: int
    max_abs_score_diff: float = Field(description="over finite top-K scores")
    max_abs_vector_diff: float = Field(description="over user vectors")
    ids_equal: bool = Field(description="top-K ids identical, position by position")
    ranking_equal: bool = Field(description="identical except for items whose scores tie within the tolerance")


class ExportResult(BaseModel):
    artifact_dir: str
    onnx_path: str
    model_sha256: str = Field(description="sha256 of model.onnx (what deploy records and compares)")
    source_fingerprint: str = Field(description="hash of model.pt and the export settings; same value, no re-export")
    top_k: int
    exclude_history: bool
    num_items: int
    hidden_size: int
    max_length: int | None
    opset: int
    parity: list[ParityCheck]
    max_abs_score_diff: float
    user_inputs: dict[str, int] = Field(
        default_factory=dict, description="user tower inputs of the graph (name -> width); empty without a tower")
    user_features: dict[str, Any] | None = Field(
        None, description="the UserFeatureSpec that encodes a user for those inputs (None without a tower)")
    reused: bool = Field(False, description="true when an up-to-date export was already in the artifact")


def synthetic_requests(num_items: int, batch: int, length: int, seed: int,
                       users: "UserFeatureSpec | None" = None) -> dict[str, "np.ndarray"]:
    """Plausible requests: left-padded histories of varied lengths (row 0 full; row 1 empty
    when batch >= 3), increasing timestamps, `now` after the last event; with `users`, the
    tower's inputs too (known and unknown codes, ages around the training mean, some missing)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    history = np.zeros((batch, length), dtype=np.int64)
    timestamps = np.zeros((batch, length), dtype=np.int64)
    now = np.full((batch,), REFERENCE_NOW, dtype=np.int64)
    for row in range(batch):
        real = length if row == 0 else (0 if row == 1 and batch >= 3 else int(rng.integers(1, length + 1)))
        if real == 0:
            continue
        gaps = rng.integers(30, 7 * 86_400, size=real)
        times = REFERENCE_NOW - int(rng.integers(60, 86_400)) - np.cumsum(gaps[::-1])[::-1]
        history[row, length - real:] = rng.integers(1, num_items + 1, size=real)
        timestamps[row, length - real:] = times
    requests = {"history": history, "timestamps": timestamps, "now": now}
    if users is not None and not users.empty:
        requests.update(synthetic_users(users, batch, rng))
    return requests


def synthetic_users(spec: "UserFeatureSpec", batch: int, rng) -> dict[str, "np.ndarray"]:
    """Raw user features drawn from the spec, encoded as the gateway encodes them: every
    categorical code (0 = missing/unseen included), numeric values with a missing one in four,
    profiles with every third row absent."""
    import numpy as np

    from recaug.models.user_spec import PROFILE

    rows = []
    for row in range(batch):
        raw = {name: (values[int(rng.integers(len(values)))] if rng.random() < 0.85 else None)
               for name, values in spec.categorical.items()}
        for name, stats in spec.numeric.items():
            raw[name] = None if rng.random() < 0.25 else float(stats["mean"] + stats["std"] * rng.normal())
        if spec.profile_dim and row % 3 != 2:
            raw[PROFILE] = rng.normal(size=spec.profile_dim).astype(np.float32).tolist()
        rows.append(raw)
    return spec.model_inputs(rows)


def export(settings: "Settings", artifact_dir: str) -> ExportResult:
    """Write `model.onnx` and `export.json` into `artifact_dir` (skipped when up to date)."""
    from recaug.models.artifact import MODEL_FILE, load_artifact

    config = settings.export
    onnx_url, export_url = io.join(artifact_dir, ONNX_FILE), io.join(artifact_dir, EXPORT_FILE)
    if not io.exists(io.join(artifact_dir, MODEL_FILE)):
        raise ExportError(f"{artifact_dir}: not a model artifact (missing {MODEL_FILE}); run `recaug train` first")
    fingerprint = io.content_hash(
        io.sha256_file(io.join(artifact_dir, MODEL_FILE)),
        json.dumps(config.model_dump(mode="json"), sort_keys=True),
    )
    previous = _up_to_date(export_url, onnx_url, fingerprint)
    if previous is not None:
        log.info("export: %s is up to date (model sha256 %s)", onnx_url, previous.model_sha256[:12])
        if not io.exists(io.join(artifact_dir, EVIDENCE_FILE)):  # exported before explanations existed
            model, _, params = load_artifact(artifact_dir)
            log.info("export: wrote %s", write_evidence(artifact_dir, model, params))
        return previous.model_copy(update={"reused": True})

    model, vocab, params = load_artifact(artifact_dir)
    num_items = len(vocab) - 1
    if config.top_k > num_items:
        raise ExportError(f"{artifact_dir}: export.top_k={config.top_k} exceeds the {num_items} items in {artifact_dir}")
    max_length = (params.get("model") or {}).get("max_length")
    users = getattr(model, "user_spec", None)
    module = top_k_module(model, config.top_k, config.exclude_history, max_length)
    names = input_names(model)
    onnx_bytes = _to_onnx(module, num_items, config.opset, artifact_dir, names, users)

    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    parity = []
    for batch in config.parity_batch_sizes:
        for length in config.parity_lengths:
            inputs = synthetic_requests(num_items, batch, length, config.seed + batch * 1000 + length, users)
            check = parity_check(module, session, inputs, config.parity_tolerance, names)
            log.info("export parity: batch %d length %d: max |score diff| %.2e, ids equal %s, ranking equal %s",
                     batch, length, check.max_abs_score_diff, check.ids_equal, check.ranking_equal)
            parity.append(check)
    worst = max(c.max_abs_score_diff for c in parity)
    broken = [c for c in parity if not c.ranking_equal or c.max_abs_score_diff > config.parity_tolerance]
    if broken:
        first = broken[0]
        raise ExportError(
            f"{artifact_dir}: ONNX disagrees with torch at batch {first.batch}, length {first.length} "
            f"(max |score diff| {first.max_abs_score_diff:.3g} > {config.parity_tolerance:g} or top-K ids differ); "
            "nothing was written"
        )

    reference = synthetic_requests(num_items, config.reference_batch, min(20, max_length or 20), config.seed, users)
    top_ids, top_scores, _ = session.run(list(OUTPUT_NAMES), reference)
    result = ExportResult(
        artifact_dir=str(artifact_dir), onnx_path=onnx_url, model_sha256=_sha256(onnx_bytes),
        source_fingerprint=fingerprint, top_k=config.top_k, exclude_history=config.exclude_history,
        num_items=num_items, hidden_size=int(model.item_matrix().shape[1]), max_length=max_length,
        opset=config.opset, parity=parity, max_abs_score_diff=worst,
        user_inputs=users.input_widths if users is not None else {},
        user_features=users.to_json() if users is not None else None,
    )
    document = result.model_dump(mode="json", exclude={"reused"})
    document["reference"] = {
        **{name: value.tolist() for name, value in reference.items()},
        "top_ids": top_ids.tolist(),
        "top_scores": top_scores.tolist(),
    }
    io.write_bytes(onnx_url, onnx_bytes)
    write_evidence(artifact_dir, model, params)
    io.write_json(export_url, document)  # last: a readable export.json implies a complete model.onnx
    log.info("export: wrote %s (%d bytes), worst parity %.2e%s", onnx_url, len(onnx_bytes), worst,
             f"; user tower inputs {', '.join(result.user_inputs)}" if result.user_inputs else "")
    return result


def parity_check(module, session, inputs: dict[str, "np.ndarray"], tolerance: float,
                 names: tuple[str, ...] = ("history", "timestamps", "now")) -> ParityCheck:
    """Compare torch and onnxruntime on one request batch (`names`: the graph's inputs, in order)."""
    import numpy as np
    import torch

    with torch.inference_mode():
        expected = [t.numpy() for t in module(*(torch.from_numpy(inputs[name]) for name in names))]
    actual = session.run(list(OUTPUT_NAMES), inputs)
    (ids_t, scores_t, user_t), (ids_o, scores_o, user_o) = expected, actual
    finite_t, finite_o = np.isfinite(scores_t), np.isfinite(scores_o)
    same_mask = bool(np.array_equal(finite_t, finite_o))
    score_diff = float(np.max(np.abs(scores_t[finite_t] - scores_o[finite_t]), initial=0.0)) if same_mask else float("inf")
    ids_equal = same_mask and bool(np.array_equal(ids_t[finite_t], ids_o[finite_t]))
    return ParityCheck(
        batch=int(inputs["history"].shape[0]), length=int(inputs["history"].shape[1]),
        max_abs_score_diff=score_diff, max_abs_vector_diff=float(np.max(np.abs(user_t - user_o))), ids_equal=ids_equal,
        ranking_equal=same_mask and same_ranking(ids_t, scores_t, ids_o, scores_o, tolerance),
    )


def same_ranking(ids_a, scores_a, ids_b, scores_b, tolerance: float) -> bool:
    """True when two top-K lists agree up to the order of near-tied items.

    Float differences of 1e-7 between runtimes (or batch sizes) may swap two items whose
    scores are that close; that is not a disagreement about the ranking. At each position
    where the ids differ, B's item must score within `tolerance` of A's item at that
    position (by A's own score when A ranked it, else by A's cut-off score).
    """
    import numpy as np

    for row in range(ids_a.shape[0]):
        by_id = dict(zip(ids_a[row].tolist(), scores_a[row].tolist()))
        cutoff = float(scores_a[row][-1])
        for position, (a, b) in enumerate(zip(ids_a[row].tolist(), ids_b[row].tolist())):
            expected = float(scores_a[row][position])
            if a == b or not np.isfinite(expected):
                continue
            if abs(float(scores_b[row][position]) - expected) > tolerance:
                return False
            if abs(by_id.get(b, cutoff) - expected) > tolerance:
                return False
    return True


def load_export(artifact_dir: str) -> dict[str, Any]:
    """export.json of an artifact (with its reference request), or a clear error."""
    url = io.join(artifact_dir, EXPORT_FILE)
    if not io.exists(url) or not io.exists(io.join(artifact_dir, ONNX_FILE)):
        raise ExportError(f"{artifact_dir}: no {ONNX_FILE}/{EXPORT_FILE}; run `recaug export` first")
    return io.read_json(url)


def _exact_integer_div(self, other, rounding_mode=None):
    """aten.div with rounding on integers, kept in integer arithmetic.

    onnxscript's default translation divides in float32, which is off by one for Unix
    timestamps (> 2**24) in hour/day computations, so served models would see other
    inputs than the trained ones.
    """
    from onnxscript import opset18 as op
    from onnxscript.function_libs.torch_lib.ops.core import aten_div_mode, aten_floor_divide

    if self.dtype.is_integer() and rounding_mode == "floor":
        return aten_floor_divide(self, other)
    if self.dtype.is_integer() and rounding_mode == "trunc":
        return op.Div(self, op.CastLike(other, self))  # ONNX integer Div truncates
    return aten_div_mode(self, other, rounding_mode=rounding_mode)


def _to_onnx(module, num_items: int, opset: int, artifact_dir: str, names: tuple[str, ...],
             users: "UserFeatureSpec | None") -> bytes:
    import torch

    for name in ("onnx_ir", "onnxscript", "torch.onnx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # "torchvision is not installed. Skipping torchvision::nms" and the like: not our problem
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)

    sample = {k: torch.from_numpy(v) for k, v in synthetic_requests(num_items, 3, 5, seed=1, users=users).items()}
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    shapes: tuple = ({0: batch, 1: length}, {0: batch, 1: length}, {0: batch})  # history, timestamps, now
    if len(names) > 3:  # the user inputs are one varargs argument of the module's forward
        shapes += (tuple({0: batch} for _ in names[3:]),)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)  # axis-renaming notes from the exporter
        warnings.filterwarnings("ignore", category=FutureWarning)
        try:
            program = torch.onnx.export(
                module, tuple(sample[name] for name in names), dynamo=True, opset_version=opset,
                input_names=list(names), output_names=list(OUTPUT_NAMES),
                dynamic_shapes=shapes,
                custom_translation_table={torch.ops.aten.div.Tensor_mode: _exact_integer_div}, verbose=False,
            )
        except Exception as exc:  # the exporter raises many types; the message is what matters
            raise ExportError(f"{artifact_dir}: torch.onnx.export failed: {exc}") from exc
    return program.model_proto.SerializeToString()


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _up_to_date(export_url: str, onnx_url: str, fingerprint: str) -> ExportResult | None:
    if not (io.exists(export_url) and io.exists(onnx_url)):
        return None
    try:
        document = io.read_json(export_url)
        result = ExportResult.model_validate({k: v for k, v in document.items() if k != "reference"})
    except (ValueError, TypeError):
        return None
    if result.source_fingerprint != fingerprint or io.sha256_file(onnx_url) != result.model_sha256:
        return None
    return result
