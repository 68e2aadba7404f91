"""The generator interface every backend implements, and the factory that picks one.

A prompt carries both the chat messages (for LLM backends) and the structured fields
they were rendered from (for the template backend), so every backend answers the same
request and the same parser validates every answer.
"""

from __future__ import annotations

import abc
from typing import Any

from pydantic import BaseModel, Field

from recaug.errors import RecaugError


class GeneratorUnavailable(RecaugError):
    """The backend cannot work at all (bad URL, rejected key, missing model): stop the
    stage instead of silently replacing every output with the template."""


class ChatMessage(BaseModel):
    role: str
    content: str


class ChatPrompt(BaseModel):
    task: str = Field(description="item | profile | pick: which template answers it and which parser checks it")
    messages: list[ChatMessage]
    fields: dict[str, Any] = Field(default_factory=dict, description="sanitised input the messages were rendered from")
    response_prefix: str = Field(
        "", description="start of the answer; backends that can prefill the reply continue from it"
    )
    subject: str | None = Field(
        None, description="keyed pseudonym of the user whose data the prompt holds: tags its cache entry so "
        "`recaug privacy forget` finds it; never sent, not part of the cache key"
    )


class Generation(BaseModel):
    text: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    error: str | None = Field(None, description="transport failure after retries (the text is then empty)")


class Generator(abc.ABC):
    """Turns chat prompts into completions, one Generation per prompt, in order."""

    #: written next to every output and part of every cache key
    model_id: str
    backend: str
    #: where prompts are sent (an URL), None for backends that run on this machine
    endpoint: str | None = None

    @abc.abstractmethod
    def generate(
        self, prompts: list[ChatPrompt], max_new_tokens: int, temperature: float = 0.0, seed: int = 0
    ) -> list[Generation]:
        """temperature 0 means greedy (deterministic); a failure of one prompt is reported
        in its Generation.error and never fails the others."""

    def close(self) -> None:
        """Release connections or threads (models stay cached per process)."""


def create_generator(config, **options) -> Generator:
    """The backend named by `config.type`; imports only what that backend needs."""
    if config.type == "template":
        from recaug.augment.backends.template import TemplateGenerator

        return TemplateGenerator()
    if config.type == "transformers":
        from recaug.augment.backends.transformers_local import TransformersGenerator

        return TransformersGenerator(config)
    if config.type == "openai":
        from recaug.augment.backends.openai_http import OpenAIGenerator

        return OpenAIGenerator(config, **options)
    raise ValueError(f"unknown generator backend type {config.type!r}")
