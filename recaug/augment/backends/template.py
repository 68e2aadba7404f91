"""Deterministic answers built from the sanitised prompt fields: no model, no network.

Used when a run wants no LLM, for items beyond the run's LLM budget, and as the
fallback after an LLM failed. Its replies go through the same parsers as model text.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from recaug.augment.generator import ChatPrompt, Generation, Generator
from recaug.augment.outputs import MIN_TEXT_CHARS
from recaug.augment.sanitize import keywords as clean_keywords
from recaug.augment.sanitize import truncate

TITLE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]{2,}")
STOPWORDS = frozenset("the and for with from this that your our new edition set pack".split())


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class TemplateGenerator(Generator):
    backend = "template"
    model_id = "template"

    def generate(self, prompts, max_new_tokens, temperature=0.0, seed=0) -> list[Generation]:
        return [Generation(text=json.dumps(self._answer(p))) for p in prompts]

    def _answer(self, prompt: ChatPrompt) -> dict:
        if prompt.task == "item":
            return self._item(prompt.fields)
        if prompt.task == "profile":
            return self._profile(prompt.fields["history"])
        if prompt.task == "pick":
            candidates = prompt.fields["candidates"]
            return {"positive": 1, "negative": len(candidates)}
        raise ValueError(f"template backend has no answer for task {prompt.task!r}")

    @staticmethod
    def _item(fields: dict[str, str]) -> dict:
        title = fields.get("title", "")
        categories = _split(fields.get("categories"))
        tags = _split(fields.get("tags"))
        parts = [f"{title}." if title else "A catalogue item."]
        if categories:
            parts.append(f"Listed under {', '.join(categories[:3]).lower()}.")
        if fields.get("brand"):
            parts.append(f"Made by {fields['brand']}.")
        if fields.get("description"):
            parts.append(truncate(fields["description"], 160))
        if len(" ".join(parts)) < MIN_TEXT_CHARS:  # a one-letter title such as "M (1931)" alone is too short
            parts.append("A catalogue item.")
        words = [w.lower() for w in TITLE_WORD.findall(title) if w.lower() not in STOPWORDS]
        keywords = clean_keywords(categories + tags + words, 8) or ["item"]
        return {"description": " ".join(parts), "keywords": keywords, "attributes": {}}

    @staticmethod
    def _profile(history: list[dict[str, str]]) -> dict:
        if not history:
            return {"profile": "No recent activity to summarise."}
        counts = Counter(c.lower() for h in history for c in _split(h.get("categories")))
        titles = [h["title"] for h in history[-3:] if h.get("title")]
        parts = []
        if counts:
            parts.append(f"Mostly interested in {', '.join(c for c, _ in counts.most_common(3))}.")
        if titles:
            parts.append(f"Recently chose {'; '.join(reversed(titles))}.")
        return {"profile": " ".join(parts) or f"Active user with {len(history)} recent events."}
