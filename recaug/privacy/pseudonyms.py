"""Keyed pseudonyms of user ids: stable within a lake, meaningless without the key.

HMAC-SHA256 of the id under a secret key, so nobody holding only a pseudonym (a cache
file, a copied report) can confirm a guessed id by hashing it. The key comes from the
environment variable named by `privacy.pseudonym_key_env`, or is generated once and
kept in `secrets/pseudonym.key` (never versioned, never pushed; outside state/, which
`dvc repro` tracks as an output of ingest).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from recaug import io

PREFIX = "p-"


def key_url(settings) -> str:
    return settings.lake.url("secrets", "pseudonym.key")


def pseudonym_key(settings) -> bytes:
    """The key from the environment, else the lake's own (created on first use)."""
    name = settings.privacy.pseudonym_key_env
    if name and os.environ.get(name):
        return os.environ[name].encode("utf-8")
    url = key_url(settings)
    if io.exists(url):
        return io.read_text(url).strip().encode("utf-8")
    key = secrets.token_hex(32)
    io.write_text(url, key + "\n")
    if settings.lake.is_local:
        os.chmod(settings.lake.local("secrets", "pseudonym.key"), 0o600)
    return key.encode("utf-8")


class Pseudonymiser:
    """user id -> `p-<20 hex>` under one key."""

    def __init__(self, key: bytes):
        self._key = key

    @classmethod
    def for_lake(cls, settings) -> "Pseudonymiser":
        return cls(pseudonym_key(settings))

    def __call__(self, user_id: str) -> str:
        return PREFIX + hmac.new(self._key, str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()[:20]
