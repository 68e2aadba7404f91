"""Cleaning of untrusted text on the way into a prompt and on the way out of a model.

Item text comes from sellers and scrapers and model output comes from a model that
read it; neither is trusted. What reaches a prompt or a table is plain text: no
control characters, markup, URLs, chat-template tokens, role markers or instruction
phrases, and never longer than its limit.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

CHAT_TOKEN = re.compile(r"<\|[^|<>]{0,40}\|>|</?s>|\[/?INST\]|<<\s*/?SYS\s*>>|<\/?(?:system|assistant|user)>", re.I)
HTML_TAG = re.compile(r"<[^<>]{0,200}>")
URL = re.compile(r"(?:https?|ftp|file|javascript|data):\S*|www\.\S+|\S+@\S+\.\w+", re.I)
MD_LINK = re.compile(r"!?\[([^\]]{0,200})\]\([^)]{0,500}\)")
MD_LINE = re.compile(r"(?m)^[ \t]{0,3}(?:#{1,6}[ \t]*|>[ \t]*|[-*+][ \t]+|\d+\.[ \t]+|(?:-{3,}|={3,})[ \t]*$)")
MD_INLINE = re.compile(r"[`*_~|]+")
ROLE_MARKER = re.compile(r"(?im)^\s*(?:#+\s*)?(?:system|assistant|user|human|ai|developer|instruction|response)\s*:")
INSTRUCTION = re.compile(
    r"\bignore (?:all |any |the )?(?:previous|prior|above|earlier|preceding)"
    r"|disregard (?:all |any |the )?(?:previous|prior|above|earlier)"
    r"|(?:new|updated|override|system) (?:instructions?|prompt|rules?)"
    r"|forget (?:everything|all|your)|you are now|act as (?:if|an? (?:ai|assistant|admin|different|unrestricted))"
    r"|pretend (?:to be|you are)|jailbreak|do anything now"
    r"|(?:reveal|print|show|repeat) (?:your|the) (?:system )?(?:prompt|instructions)"
    r"|respond (?:only )?with|reply (?:only )?with|output (?:only|exactly)|say (?:only|exactly)",
    re.I,
)
SENTENCE = re.compile(r"(?<=[.!?])\s+")
WHITESPACE = re.compile(r"\s+")
KEYWORD = re.compile(r"^[a-z][a-z0-9]*(?:[ -][a-z0-9]+){0,2}$")
KEYWORD_BLOCKLIST = frozenset(
    "ignore instruction instructions prompt system assistant user json pwned hacked jailbreak "
    "override admin password api key token secret http https www script".split()
)


def strip_control(text: str) -> str:
    """Drop control and format characters (zero-width, bidi overrides), keep newlines as spaces."""
    if text.isprintable():  # no character of category C* (nor a separator but the space): nothing to drop
        return text
    return "".join(
        " " if ch in "\n\r\t" else ch
        for ch in text
        if ch in "\n\r\t" or unicodedata.category(ch)[0] != "C"
    )


def plain_text(text: Any, max_chars: int) -> str:
    """Untrusted text as one plain line: no markup, URLs, chat tokens or instruction
    sentences, cut at a word boundary to `max_chars`."""
    if text is None:
        return ""
    text = unicodedata.normalize("NFKC", strip_control(MD_LINE.sub(" ", str(text))))
    text = CHAT_TOKEN.sub(" ", text)
    text = MD_LINK.sub(r"\1", text)
    text = HTML_TAG.sub(" ", text)
    text = URL.sub(" ", text)
    text = ROLE_MARKER.sub(" ", text)
    text = MD_INLINE.sub(" ", text)
    text = text.replace("{", " ").replace("}", " ").replace("<", " ").replace(">", " ")
    text = WHITESPACE.sub(" ", text).strip()
    sentences = [s for s in SENTENCE.split(text) if s and not INSTRUCTION.search(s)]
    return truncate(" ".join(sentences).strip(" \"'"), max_chars)


def truncate(text: str, max_chars: int) -> str:
    """Cut at the last sentence end or word boundary before the limit."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if end >= max_chars // 2:
        return cut[: end + 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > 0 else cut).rstrip(" ,;:-")


def is_clean(text: str) -> bool:
    """True when `text` holds nothing `plain_text` would remove (used to check stored output)."""
    return not (
        CHAT_TOKEN.search(text) or HTML_TAG.search(text) or URL.search(text) or ROLE_MARKER.search(text)
        or INSTRUCTION.search(text) or any(unicodedata.category(ch)[0] == "C" for ch in text)
        or any(ch in text for ch in "{}<>`")
    )


def keyword(value: Any) -> str | None:
    """A keyword as at most three short lowercase words, or None when it is not one."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return None
    text = WHITESPACE.sub(" ", strip_control(str(value))).strip().lower().strip(".,;:!?\"'#")
    text = text.replace("_", " ")
    if len(text) > 24 or not KEYWORD.match(text) or set(text.replace("-", " ").split()) & KEYWORD_BLOCKLIST:
        return None
    return text


def keywords(values: Any, limit: int) -> list[str]:
    """Valid keywords, deduplicated in order; strings (alone or in a list) are split on commas,
    pipes or semicolons: small models often write ["a, b, c"] for ["a", "b", "c"]."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return []
    out: list[str] = []
    split = [part for value in values for part in (re.split(r"[,|;/]", value) if isinstance(value, str) else [value])]
    for value in split:
        word = keyword(value)
        if word and word not in out:
            out.append(word)
        if len(out) == limit:
            break
    return out


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (model replies wrap it in prose or code fences)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None
