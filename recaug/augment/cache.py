"""Content-addressed cache of generations in the lake (`cache/generations/`).

A key hashes everything that decides a generation: the task, the prompt version, the
model id and the rendered prompt (the sanitised input text). Entries live in 256
JSON-lines shards named by the key's first two hex digits; `save()` rewrites only the
shards that changed, each atomically, so a crash mid-run keeps every chunk saved
before it and never leaves a torn shard. Works on local and object-store lakes.
Entries made from a user's data (profiles, picks) list the user's keyed pseudonym in
`subjects`, so `recaug privacy forget` finds them without the lake storing user ids.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from recaug import io
from recaug.augment.generator import ChatPrompt

log = logging.getLogger(__name__)

OK = "ok"
INVALID = "invalid"  # every attempt failed validation: the template is used until the key changes
SUBJECTS = "subjects"  # pseudonyms of the users whose data the prompt held (profiles, picks)


def generation_key(prompt: ChatPrompt, prompt_version: str, model_id: str) -> str:
    rendered = json.dumps([m.model_dump() for m in prompt.messages] + [prompt.response_prefix], sort_keys=True)
    return io.content_hash(prompt.task, prompt_version, model_id, rendered)


class GenerationCache:
    def __init__(self, root: str):
        self.root = root
        self._shards: dict[str, dict[str, dict[str, Any]]] = {}
        self._dirty: set[str] = set()

    def _shard(self, key: str) -> dict[str, dict[str, Any]]:
        name = key[:2]
        if name not in self._shards:
            url = io.join(self.root, f"{name}.jsonl")
            entries: dict[str, dict[str, Any]] = {}
            if io.exists(url):
                for number, line in enumerate(io.read_text(url).splitlines(), start=1):
                    try:
                        entry = json.loads(line)
                        entries[entry["key"]] = entry
                    except (ValueError, KeyError, TypeError):
                        # a damaged line costs one regeneration, never the run
                        log.warning("%s line %d: unreadable cache entry skipped", url, number)
            self._shards[name] = entries
        return self._shards[name]

    def get(self, key: str) -> dict[str, Any] | None:
        return self._shard(key).get(key)

    def put(self, key: str, entry: dict[str, Any], subject: str | None = None) -> None:
        previous = self._shard(key).get(key) or {}
        self._shard(key)[key] = {"key": key, **entry}
        self._dirty.add(key[:2])
        for known in previous.get(SUBJECTS, []):
            self.tag(key, known)
        self.tag(key, subject)

    def tag(self, key: str, subject: str | None) -> None:
        """Record that the entry holds data of `subject` (a user pseudonym), so forgetting
        that user finds it even when several users produced the same prompt."""
        entry = self._shard(key).get(key)
        if subject is None or entry is None or subject in entry.get(SUBJECTS, []):
            return
        entry[SUBJECTS] = sorted([*entry.get(SUBJECTS, []), subject])
        self._dirty.add(key[:2])

    def remove(self, subjects: set[str], keys: set[str]) -> int:
        """Delete every entry tagged with one of `subjects` or whose key is in `keys`, in
        every shard of the cache; each changed shard is rewritten atomically. Returns how many."""
        fs, path = io.filesystem(self.root)
        names = sorted(p.rsplit("/", 1)[-1][:-len(".jsonl")] for p in fs.glob(io.join(path, "*.jsonl"))) if fs.exists(path) else []
        removed = 0
        for name in names:
            shard = self._shard(name)
            doomed = [k for k, e in shard.items() if k in keys or subjects.intersection(e.get(SUBJECTS, []))]
            for key in doomed:
                del shard[key]
            if doomed:
                removed += len(doomed)
                url = io.join(self.root, f"{name}.jsonl")
                if shard:
                    io.write_text(url, "\n".join(json.dumps(e, sort_keys=True) for e in shard.values()) + "\n")
                else:
                    fs.rm(io.filesystem(url)[1])
        return removed

    def save(self) -> int:
        """Write the changed shards; returns how many were written."""
        written = 0
        for name in sorted(self._dirty):
            lines = (json.dumps(e, sort_keys=True) for e in self._shards[name].values())
            io.write_text(io.join(self.root, f"{name}.jsonl"), "\n".join(lines) + "\n")
            written += 1
        self._dirty.clear()
        return written

    def __len__(self) -> int:
        return sum(len(s) for s in self._shards.values())
