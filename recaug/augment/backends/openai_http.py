"""Any OpenAI-compatible `/chat/completions` endpoint (OpenAI, vLLM, TGI, llama.cpp server).

Requests run on a bounded thread pool behind a client-side rate limit. Timeouts,
429 and 5xx answers and unreadable bodies are retried with exponential backoff and
full jitter (a server's Retry-After wins, capped); a prompt that still fails comes back
with `Generation.error` and the runner falls back to the template for it. Errors that
no retry can fix (unreachable host, rejected key, unknown model) stop the stage.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import Callable

from recaug.augment.generator import ChatPrompt, Generation, Generator, GeneratorUnavailable

log = logging.getLogger(__name__)

FATAL_STATUS = {401: "the API key was rejected", 403: "access denied", 404: "unknown URL or model"}


class RateLimiter:
    """Spaces request starts at least 1/rate seconds apart across threads."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / per_second
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, unreachable: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.unreachable = unreachable


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class OpenAIGenerator(Generator):
    backend = "openai"

    def __init__(self, config, sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        import httpx

        self.config = config
        self.model_id = f"openai:{config.model}"
        self.endpoint = config.base_url
        self._sleep = sleep
        self._rng = rng or random.Random()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(config.api_key_env) if config.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._client = httpx.Client(
            timeout=httpx.Timeout(config.timeout_seconds),
            headers=headers,
            limits=httpx.Limits(max_connections=config.max_concurrency),
        )
        self._limiter = RateLimiter(config.requests_per_second, sleep=sleep)

    def close(self) -> None:
        self._client.close()

    def generate(self, prompts, max_new_tokens, temperature=0.0, seed=0) -> list[Generation]:
        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(self.config.max_concurrency, len(prompts))) as pool:
            futures = [pool.submit(self._complete, p, max_new_tokens, temperature, seed) for p in prompts]
            try:
                return [f.result() for f in futures]
            except GeneratorUnavailable:
                for f in futures:
                    f.cancel()
                raise

    def _complete(self, prompt: ChatPrompt, max_new_tokens: int, temperature: float, seed: int) -> Generation:
        payload = {
            "model": self.config.model,
            "messages": [m.model_dump() for m in prompt.messages],
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        attempts = self.config.max_retries + 1
        last: _Retryable | None = None
        for attempt in range(attempts):
            if last is not None:
                self._sleep(self._backoff(attempt, last.retry_after))
            self._limiter.acquire()
            try:
                return self._post(payload)
            except _Retryable as exc:
                last = exc
                log.debug("%s: attempt %d failed: %s", self._url, attempt + 1, exc)
        message = f"{self._url}: {last} (after {attempts} attempts)"
        if last.unreachable:
            raise GeneratorUnavailable(message)
        return Generation(error=message)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.config.backoff_max_seconds)
        ceiling = min(self.config.backoff_max_seconds, self.config.backoff_base_seconds * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)

    def _post(self, payload: dict) -> Generation:
        import httpx

        try:
            response = self._client.post(self._url, json=payload)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out ({type(exc).__name__})") from exc
        except httpx.ConnectError as exc:
            raise _Retryable(f"cannot connect ({exc})", unreachable=True) from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"transport error ({exc})") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", retry_after_seconds(response.headers.get("Retry-After")))
        if status in FATAL_STATUS:
            raise GeneratorUnavailable(f"{self._url}: HTTP {status}: {FATAL_STATUS[status]} ({response.text[:200]})")
        if status >= 400:
            return Generation(error=f"{self._url}: HTTP {status}: {response.text[:200]}")
        try:
            body = response.json()
            text = body["choices"][0]["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Retryable(f"malformed response body ({exc})") from exc
        usage = body.get("usage")
        return Generation(text=text, tokens_in=token_count(usage, "prompt_tokens"),
                          tokens_out=token_count(usage, "completion_tokens"))


def token_count(usage, name: str) -> int:
    """A token count from the optional `usage` object; anything but a count is 0 (statistics
    only: a garbled usage field must not cost a valid generation, let alone the run)."""
    value = usage.get(name) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
