"""What the exported encoders (onnxruntime, OpenVINO) share: a per-machine cache folder
keyed by the source model and export settings, written whole or not at all, and the
calibration check that holds each numeric variant to the fp32 torch encoder (stored
beside it, so it runs once per variant and runtime version)."""

from __future__ import annotations

import importlib.metadata
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from recaug import io
from recaug.embed.calibration import CALIBRATION_TEXTS, CHECK_BATCH_SIZE, compare_on_calibration
from recaug.embed.config import SentenceTransformersEncoderConfig
from recaug.embed.encoder import Encoder

log = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"
EXPORT_META = "export.json"


def default_cache_dir() -> Path:
    if os.environ.get("RECAUG_MODEL_CACHE"):
        return Path(os.environ["RECAUG_MODEL_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "recaug" / "encoders"


def artifact_dir(config, source_hash: str, *key_parts: str) -> Path:
    """The cache folder of one export: model name plus a hash of the source model, the
    export settings and the torch version (a new recipe never reuses an old graph)."""
    key = io.content_hash(source_hash, str(config.max_seq_length), *key_parts, importlib.metadata.version("torch"))
    root = Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.model_name).strip("-") or "encoder"
    return root / f"{slug}-{key[:16]}"


def write_export(reference, artifact: Path, write: Callable[[Path], dict]) -> None:
    """`write(staging)` fills a temporary folder with the model files and returns the
    export's metadata; the folder is renamed into place only when complete."""
    staging = Path(tempfile.mkdtemp(prefix=f".{artifact.name}.", dir=artifact.parent))
    try:
        meta = write(staging)
        reference.model.tokenizer.backend_tokenizer.save(str(staging / TOKENIZER_FILE))
        hf_config = reference.model.transformers_model.config
        io.write_json(staging / EXPORT_META, {
            "source_model": str(reference.path), "source_hash": reference.source_hash, "dim": reference.dim,
            "hidden_size": hf_config.hidden_size, "intermediate_size": hf_config.intermediate_size,
            "torch": importlib.metadata.version("torch"), **meta,
        })
        if artifact.exists():
            shutil.rmtree(artifact)  # an incomplete folder from an older layout; the caller holds the lock
        os.replace(staging, artifact)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def checked_variant(check_file: Path, expected: dict, variant: str, candidate: Callable[[], Encoder],
                    reference: Callable[[], Encoder]) -> dict:
    """The stored calibration check of `variant` when it was made under `expected` (runtime
    version, calibration texts), else a new one, stored."""
    if check_file.is_file():
        check = io.read_json(check_file)
        if all(check.get(k) == v for k, v in expected.items()):
            return check
    texts = list(CALIBRATION_TEXTS)
    check = {**expected, "variant": variant, **compare_on_calibration(candidate().encode(texts, CHECK_BATCH_SIZE),
                                                                      reference().encode(texts, CHECK_BATCH_SIZE))}
    io.write_json(check_file, check)
    log.info("checked %s against torch on %d texts: min cosine %.5f", variant, len(texts), check["min_cosine"])
    return check


def matches_torch(runtime: str, variant: str, check: dict, min_cosine: float) -> bool:
    """Whether the check passed; says why not in the log."""
    if check["min_cosine"] >= min_cosine:
        return True
    log.warning(
        "%s encoder %s does not match torch: min cosine %.4f < %.4f on %d calibration texts (text: %r); "
        "falling back to the torch encoder",
        runtime, variant, check["min_cosine"], min_cosine, check["texts"], check["worst_text"][:80],
    )
    return False


def torch_fallback(config, **overrides) -> Encoder:
    from recaug.embed.sentence_transformers_encoder import SentenceTransformersEncoder

    fields = config.model_dump(include=set(SentenceTransformersEncoderConfig.model_fields) - {"type"})
    return SentenceTransformersEncoder(SentenceTransformersEncoderConfig(**{**fields, **overrides}))


def reference_encoder(config) -> Encoder:
    """The torch encoder on CPU in fp32: the reference every exported variant is held to."""
    return torch_fallback(config, device="cpu", precision="fp32")
