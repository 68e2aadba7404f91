"""Which landing batch names may become folder names in raw/ and quarantine/.

A batch name becomes a path in the lake, a DVC target and a key in the ledger. Names
with path separators, leading dots or dashes, control or invisible characters, or
non-ASCII look-alikes are refused, and such a batch is quarantined under a name
derived from a hash of the original (which the report quotes).
"""

from __future__ import annotations

import hashlib
import re

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=@-]{0,127}")
UNSAFE_NAME_RULE = (
    "a batch name is 1-128 ASCII letters, digits and . _ + = @ -, starting with a letter or digit "
    "(e.g. 2026-01-31); rename the folder"
)


def is_safe_batch_name(name: str) -> bool:
    return SAFE_NAME.fullmatch(name) is not None


def storage_name(name: str) -> str:
    """The folder name used in the lake: the name itself when safe, else a stable stand-in."""
    if is_safe_batch_name(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"unsafe-name-{digest}"
