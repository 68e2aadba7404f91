"""Logging set-up shared by the CLI, benchmarks and Airflow tasks."""

from __future__ import annotations

import logging
import os
import sys

NOISY_LOGGERS = ("great_expectations", "feast", "urllib3", "httpx", "filelock", "fsspec", "dvc", "transformers", "sentence_transformers")


# Read by tqdm and huggingface_hub/transformers when they are first imported.
PROGRESS_BAR_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    quiet_third_party(progress_bars=sys.stderr.isatty())


def quiet_third_party(progress_bars: bool = False) -> None:
    """Keep library chatter (progress bars, analytics, per-request logs) out of run logs.

    Library progress bars (model loading, GGUF conversion, tqdm) write to stderr, which
    Airflow's task log shows at error level: off unless a person watches a terminal.
    recaug's own info lines say what is loading and how far a task got instead."""
    if not progress_bars:
        silence_progress_bars()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def silence_progress_bars() -> None:
    """Turn library progress bars off, for libraries imported later (environment) and for
    Hugging Face libraries already imported (their switches)."""
    os.environ.update(PROGRESS_BAR_ENV)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
