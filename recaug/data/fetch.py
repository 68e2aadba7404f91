"""Download public datasets from their official address, verified by checksum.

The archive is streamed into `<dest>/.<name>.part` (kept across interruptions and
resumed with an HTTP Range request), verified, extracted into a hidden staging folder
and renamed to `<dest>/<name>/`; a `.recaug-fetch.json` marker records what was
fetched, so a second call does nothing. A checksum mismatch deletes the download and
leaves no partial files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from recaug import io
from recaug.errors import RecaugError

log = logging.getLogger(__name__)

MARKER = ".recaug-fetch.json"
CHUNK = 1 << 20
GROUPLENS = "https://files.grouplens.org/datasets/movielens"


class FetchError(RecaugError):
    """A dataset could not be downloaded, verified or extracted."""


@dataclass(frozen=True)
class DatasetSource:
    url: str
    format: str  # the `recaug data load --format` that reads it
    md5: str | None = None
    sha256: str | None = None
    checksum_url: str | None = None  # published checksum file, for archives that get updated


# MD5s as published by GroupLens next to each archive (<url>.md5). ml-latest(-small) is
# refreshed from time to time, so its checksum is read from the published file.
REGISTRY: dict[str, DatasetSource] = {
    "ml-100k": DatasetSource(f"{GROUPLENS}/ml-100k.zip", "ml-100k", md5="0e33842e24a9c977be4e0107933c0723"),
    "ml-1m": DatasetSource(f"{GROUPLENS}/ml-1m.zip", "ml-dat", md5="c4d9eecfca2ab87c1945afe126590906"),
    "ml-10m": DatasetSource(f"{GROUPLENS}/ml-10m.zip", "ml-dat", md5="ce571fd55effeba0271552578f2648bd"),
    "ml-20m": DatasetSource(f"{GROUPLENS}/ml-20m.zip", "ml-latest", md5="cd245b17a1ae2cc31bb14903e1204af3"),
    "ml-25m": DatasetSource(f"{GROUPLENS}/ml-25m.zip", "ml-latest", md5="6b51fb2759a8657d3bfcbfc42b592ada"),
    "ml-latest-small": DatasetSource(
        f"{GROUPLENS}/ml-latest-small.zip", "ml-latest", checksum_url=f"{GROUPLENS}/ml-latest-small.zip.md5"
    ),
    "ml-latest": DatasetSource(f"{GROUPLENS}/ml-latest.zip", "ml-latest", checksum_url=f"{GROUPLENS}/ml-latest.zip.md5"),
}


class FetchResult(BaseModel):
    name: str
    path: str  # the extracted dataset folder
    format: str
    url: str
    sha256: str
    downloaded: bool  # False when it was already there


def fetch(name: str, dest: str | os.PathLike, url: str | None = None, sha256: str | None = None,
          md5: str | None = None, fmt: str | None = None, timeout: float = 60.0, retries: int = 3) -> FetchResult:
    """Download dataset `name` (a registry entry, or any name with `url` and a checksum) into `dest/name/`."""
    source = REGISTRY.get(name)
    if source is None and url is None:
        raise FetchError(f"unknown dataset {name!r}; known: {sorted(REGISTRY)} (or give --url and --sha256)")
    if url is not None:
        # An explicit address replaces the registry's, and so must its checksum.
        if sha256 is None and md5 is None:
            raise FetchError(f"{name}: --url needs --sha256 (or --md5) so the download can be verified")
        source = DatasetSource(url, fmt or (source.format if source else "csv"), md5=md5, sha256=sha256)
    elif sha256 or md5:
        source = DatasetSource(source.url, source.format, md5=md5, sha256=sha256)
    dest_dir = Path(dest).expanduser().resolve()
    target = dest_dir / name
    marker = target / MARKER
    if marker.is_file():
        record = io.read_json(marker)
        if record.get("url") == source.url and _matches(record, source):
            log.info("%s: already fetched into %s", name, target)
            return FetchResult(**{**record, "downloaded": False})
    dest_dir.mkdir(parents=True, exist_ok=True)
    expected = _expected_checksum(name, source, timeout)
    part = dest_dir / f".{name}.part"
    _download(source.url, part, timeout, retries)
    digests = _digests(part)
    algorithm, want = expected
    if digests[algorithm] != want.lower():
        part.unlink(missing_ok=True)
        raise FetchError(
            f"{name}: checksum mismatch for {source.url}: expected {algorithm} {want}, got {digests[algorithm]}; "
            "the download was deleted"
        )
    try:
        _extract(part, target, name)
    finally:
        part.unlink(missing_ok=True)
    result = FetchResult(name=name, path=str(target), format=source.format, url=source.url,
                         sha256=digests["sha256"], downloaded=True)
    io.write_json(marker, {**result.model_dump(mode="json", exclude={"downloaded"}), "md5": digests["md5"]})
    log.info("%s: fetched %s into %s", name, source.url, target)
    return result


def _matches(record: dict, source: DatasetSource) -> bool:
    if source.sha256:
        return record.get("sha256") == source.sha256.lower()
    if source.md5:
        return record.get("md5") == source.md5.lower()
    return True  # a published checksum was verified when the record was written


def _expected_checksum(name: str, source: DatasetSource, timeout: float) -> tuple[str, str]:
    if source.sha256:
        return "sha256", source.sha256
    if source.md5:
        return "md5", source.md5
    if source.checksum_url:
        try:
            with urllib.request.urlopen(source.checksum_url, timeout=timeout) as response:
                text = response.read(4096).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            raise FetchError(f"{name}: cannot read the published checksum {source.checksum_url}: {exc}") from exc
        match = re.search(r"\b([0-9a-fA-F]{64}|[0-9a-fA-F]{32})\b", text)
        if not match:
            raise FetchError(f"{name}: no checksum found in {source.checksum_url}")
        value = match.group(1).lower()
        return ("sha256" if len(value) == 64 else "md5"), value
    raise FetchError(f"{name}: no checksum known for {source.url}")


def _download(url: str, part: Path, timeout: float, retries: int) -> None:
    """Stream `url` into `part`, resuming from its current size after interruptions."""
    for attempt in range(retries + 1):
        offset = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                resumed = offset and response.status == 206
                if offset and not resumed:
                    log.info("%s: server ignored the range request, downloading from the start", url)
                total = response.headers.get("Content-Length")
                total = int(total) + (offset if resumed else 0) if total else None
                done = offset if resumed else 0
                next_log = done + 20 * CHUNK
                with open(part, "ab" if resumed else "wb") as fh:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        fh.write(chunk)
                        done += len(chunk)
                        if done >= next_log:
                            log.info("%s: %.1f MB%s", url, done / 1e6, f" of {total / 1e6:.1f}" if total else "")
                            next_log += 20 * CHUNK
                    fh.flush()
                    os.fsync(fh.fileno())
                if total is not None and done < total:
                    raise OSError(f"connection closed after {done} of {total} bytes")
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:  # the part file is already complete
                return
            raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            if attempt == retries:
                raise FetchError(
                    f"{url}: download failed after {retries + 1} attempt(s): {exc}; rerun to resume from {part}"
                ) from exc
            log.warning("%s: %s; resuming (attempt %d of %d)", url, exc, attempt + 2, retries + 1)
            time.sleep(min(2 ** attempt, 10))


def _digests(path: Path) -> dict[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            sha.update(chunk)
            md5.update(chunk)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def _extract(archive: Path, target: Path, name: str) -> None:
    """Unzip into a staging folder and rename it into place; a single top-level folder
    in the archive (ml-100k/...) becomes `target` itself."""
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.extract-", dir=target.parent))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    resolved = (staging / member).resolve()
                    if not resolved.is_relative_to(staging.resolve()):
                        raise FetchError(f"{name}: archive member {member!r} would be written outside {target}")
                zf.extractall(staging)
        except zipfile.BadZipFile as exc:
            raise FetchError(f"{name}: {archive} is not a valid zip archive: {exc}") from exc
        entries = [p for p in staging.iterdir() if not p.name.startswith("__MACOSX")]
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        if target.exists():
            shutil.rmtree(target)
        os.replace(root, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
