"""The OpenAI-compatible backend against a local server that misbehaves on request."""

from __future__ import annotations

import pytest

from recaug.augment.backends.openai_http import OpenAIGenerator, RateLimiter, retry_after_seconds
from recaug.augment.generator import ChatMessage, ChatPrompt, GeneratorUnavailable


def prompt(text: str = "hello") -> ChatPrompt:
    return ChatPrompt(task="profile", messages=[
        ChatMessage(role="system", content="You summarise a user's taste."),
        ChatMessage(role="user", content=text),
    ])


class RecordingSleep:
    """Records requested delays instead of waiting (the tests never depend on wall-clock time)."""

    def __init__(self):
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_success_sends_model_key_and_limits_and_reports_usage(llm_server, openai_config, monkeypatch):
    monkeypatch.setenv("RECAUG_TEST_LLM_KEY", "sk-test-123")
    generator = OpenAIGenerator(openai_config())
    (result,) = generator.generate([prompt()], max_new_tokens=32, temperature=0.0, seed=5)
    generator.close()
    assert result.error is None and '"profile"' in result.text
    assert result.tokens_in > 0 and result.tokens_out > 0
    request = llm_server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test-123"
    assert request["body"]["model"] == "test-model"
    assert request["body"]["max_tokens"] == 32 and request["body"]["seed"] == 5
    assert generator.model_id == "openai:test-model"


def test_no_key_in_env_sends_no_authorization(llm_server, openai_config, monkeypatch):
    monkeypatch.delenv("RECAUG_TEST_LLM_KEY", raising=False)
    generator = OpenAIGenerator(openai_config())
    generator.generate([prompt()], 16)
    generator.close()
    assert llm_server.requests[0]["auth"] is None


@pytest.mark.parametrize("failure", [
    "timeout",
    ("status", 500, {}),
    ("status", 503, {}),
    "malformed",
    "no_choices",
])
def test_transient_failures_are_retried_then_succeed(llm_server, openai_config, failure):
    llm_server.plan.extend([failure, failure])
    sleep = RecordingSleep()
    generator = OpenAIGenerator(openai_config(max_retries=2, timeout_seconds=1.0), sleep=sleep)
    (result,) = generator.generate([prompt()], 16)
    generator.close()
    assert result.error is None and "profile" in result.text
    assert len(llm_server.requests) == 3
    backoffs = [s for s in sleep.calls if s > 0]
    assert len(sleep.calls) >= 2 and all(0 <= s <= 0.05 for s in backoffs)


def test_429_honours_retry_after_capped_by_backoff_max(llm_server, openai_config):
    llm_server.plan.extend([("status", 429, {"Retry-After": "0.03"}), ("status", 429, {"Retry-After": "120"})])
    sleep = RecordingSleep()
    generator = OpenAIGenerator(openai_config(max_retries=3, backoff_max_seconds=0.05), sleep=sleep)
    (result,) = generator.generate([prompt()], 16)
    generator.close()
    assert result.error is None
    assert 0.03 in sleep.calls  # the server's Retry-After
    assert 0.05 in sleep.calls  # 120 s capped at backoff_max_seconds


def test_exhausted_retries_return_an_error_not_an_exception(llm_server, openai_config):
    llm_server.plan.extend([("status", 500, {})] * 3)
    generator = OpenAIGenerator(openai_config(max_retries=2, max_concurrency=1), sleep=RecordingSleep())
    results = generator.generate([prompt("a"), prompt("b")], 16)
    generator.close()
    failed = [r for r in results if r.error]
    assert len(failed) == 1 and "HTTP 500" in failed[0].error and "3 attempts" in failed[0].error
    assert failed[0].text == "" and results[0] is failed[0]
    assert results[1].error is None and results[1].text


@pytest.mark.parametrize("status", [401, 403, 404])
def test_configuration_errors_stop_the_stage(llm_server, openai_config, status):
    llm_server.plan.append(("status", status, {}))
    generator = OpenAIGenerator(openai_config(), sleep=RecordingSleep())
    with pytest.raises(GeneratorUnavailable, match=f"HTTP {status}"):
        generator.generate([prompt()], 16)
    generator.close()
    assert len(llm_server.requests) == 1  # not retried


def test_unreachable_endpoint_stops_the_stage(openai_config, llm_server):
    llm_server.stop()  # nothing listens on the port any more
    generator = OpenAIGenerator(openai_config(max_retries=1), sleep=RecordingSleep())
    with pytest.raises(GeneratorUnavailable, match="cannot connect"):
        generator.generate([prompt()], 16)
    generator.close()


def test_concurrency_is_bounded(llm_server, openai_config):
    llm_server.delay = 0.05
    generator = OpenAIGenerator(openai_config(max_concurrency=2, max_retries=0))
    results = generator.generate([prompt(str(i)) for i in range(8)], 16)
    generator.close()
    assert all(r.error is None for r in results)
    assert llm_server.max_in_flight <= 2
    assert len(llm_server.requests) == 8


def test_results_keep_prompt_order(llm_server, openai_config):
    llm_server.default = lambda body: body["messages"][-1]["content"].upper()
    generator = OpenAIGenerator(openai_config(max_concurrency=4))
    results = generator.generate([prompt(f"p{i}") for i in range(10)], 16)
    generator.close()
    assert [r.text for r in results] == [f"P{i}" for i in range(10)]


def test_rate_limiter_spaces_requests():
    now = [100.0]
    sleep = RecordingSleep()
    limiter = RateLimiter(per_second=4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert sleep.calls == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_retry_after_parses_seconds_and_http_dates():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
