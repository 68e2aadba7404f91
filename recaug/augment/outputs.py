"""Output schemas of the augmentation tasks and the parsers that build them from model text.

A parser either returns a valid, sanitised value or raises `InvalidOutput` saying why;
the runner then retries and finally falls back to the template. The schemas validate
again on construction, so nothing unchecked can reach a table.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, field_validator

from recaug.augment import sanitize
from recaug.augment.prompts import EXAMPLE_TEXTS

MAX_ATTRIBUTE_CHARS = 40
MIN_TEXT_CHARS = 10  # a description or profile shorter than this says nothing


class InvalidOutput(ValueError):
    """Model text that does not satisfy the task's schema."""


def _clean(value: str) -> str:
    if not sanitize.is_clean(value):
        raise ValueError(f"text contains markup, URLs, control characters or instructions: {value[:80]!r}")
    return value


class ItemText(BaseModel):
    description: str = Field(min_length=MIN_TEXT_CHARS)
    keywords: list[str] = Field(min_length=1)
    attributes: dict[str, str] = Field(default_factory=dict)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return _clean(value)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        bad = [k for k in value if sanitize.keyword(k) != k]
        if bad:
            raise ValueError(f"keywords must be short plain lowercase words, got {bad}")
        return value

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if sanitize.keyword(key) != key or len(text) > MAX_ATTRIBUTE_CHARS:
                raise ValueError(f"attribute {key!r}={text!r} is not a short plain name and value")
            _clean(text)
        return value


class ProfileText(BaseModel):
    profile: str = Field(min_length=MIN_TEXT_CHARS)

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        return _clean(value)


class PickChoice(BaseModel):
    """Candidate positions (0-based, retriever order) chosen as positives and as the negative."""

    positives: list[int] = Field(min_length=1)
    negative: int


MIN_WORDS = {"description": 4, "profile": 5}
MIN_DISTINCT_WORD_SHARE = 0.5  # below this a text is a loop ("Yoga, Yoga, Yoga, ...")


def _substantive(field: str, text: str) -> str:
    """Reject what small models produce when they fail: the prompt's example copied,
    a bare list of two words, or a loop."""
    if text in EXAMPLE_TEXTS:
        raise InvalidOutput("the reply copies the prompt's example")
    words = re.findall(r"[a-z0-9']+", text.lower())
    if len(words) < MIN_WORDS[field]:
        raise InvalidOutput(f"'{field}' has fewer than {MIN_WORDS[field]} words")
    if len(set(words)) < MIN_DISTINCT_WORD_SHARE * len(words):
        raise InvalidOutput(f"'{field}' repeats itself")
    return text


def _json_object(text: str) -> dict[str, Any]:
    value = sanitize.first_json_object(text)
    if value is None:  # a reply cut by max_new_tokens: drop a dangling comma and try closing it
        cut = text.rstrip().rstrip(",").rstrip()
        for suffix in ('"}', "}", '"]}', "]}", '"}}', "}}"):
            value = sanitize.first_json_object(cut + suffix)
            if value is not None:
                break
    if value is None:
        raise InvalidOutput("no JSON object in the reply")
    return value


def parse_item(text: str, max_description_chars: int, max_keywords: int, attribute_keys: list[str],
               from_model: bool = True) -> ItemText:
    """`from_model=False` (template text) skips the checks for failed generations."""
    obj = _json_object(text)
    description = _text_field(obj, "description", max_description_chars, from_model)
    # "tags" is what small models most often write instead of "keywords" (SmolLM2-135M: ~1 reply in 5)
    keywords = sanitize.keywords(obj.get("keywords", obj.get("tags")), max_keywords)
    if not keywords:
        raise InvalidOutput("no valid keywords (short plain lowercase words)")
    attributes = {}
    raw_attributes = obj.get("attributes")
    if isinstance(raw_attributes, dict):
        allowed = set(attribute_keys)
        for key, value in raw_attributes.items():
            name = sanitize.keyword(key)
            if name not in allowed or isinstance(value, (dict, bool)) or value is None:
                continue
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value if isinstance(v, (str, int, float)))
            value = sanitize.plain_text(value, MAX_ATTRIBUTE_CHARS)
            if value:
                attributes[name] = value
    return ItemText(description=description, keywords=keywords, attributes=attributes)


def parse_profile(text: str, max_profile_chars: int, from_model: bool = True) -> ProfileText:
    return ProfileText(profile=_text_field(_json_object(text), "profile", max_profile_chars, from_model))


def _text_field(obj: dict, name: str, max_chars: int, from_model: bool) -> str:
    """A free-text field, cleaned, length-limited and long enough to be worth storing."""
    value = obj.get(name)
    if not isinstance(value, str):
        raise InvalidOutput(f"'{name}' is missing or not a string")
    value = sanitize.plain_text(value, max_chars)
    if len(value) < MIN_TEXT_CHARS:
        raise InvalidOutput(f"'{name}' is shorter than {MIN_TEXT_CHARS} characters after cleaning")
    if from_model:
        _substantive(name, value)
    return value


def _number(value: Any, n_candidates: int) -> int:
    if isinstance(value, bool):
        raise InvalidOutput(f"candidate number must be a number, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= n_candidates:
        raise InvalidOutput(f"candidate number must be 1..{n_candidates}, got {value!r}")
    return value - 1


def parse_pick(text: str, n_candidates: int, n_positives: int) -> PickChoice:
    obj = _json_object(text)
    raw = obj.get("positive", obj.get("positives"))
    values = raw if isinstance(raw, list) else [raw]
    positives: list[int] = []
    for value in values:
        index = _number(value, n_candidates)
        if index not in positives:
            positives.append(index)
    negative = _number(obj.get("negative"), n_candidates)
    if negative in positives:
        raise InvalidOutput("the negative is also a positive")
    return PickChoice(positives=positives[:n_positives], negative=negative)
