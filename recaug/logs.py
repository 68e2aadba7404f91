"""Logging set-up shared by the CLI, benchmarks and Airflow tasks."""

from __future__ import annotations

import logging
import os

NOISY_LOGGERS = ("great_expectations", "feast", "urllib3", "httpx", "filelock", "fsspec", "dvc", "transformers", "sentence_transformers")


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    quiet_third_party()


def quiet_third_party() -> None:
    """Keep library chatter (progress bars, analytics, per-request logs) out of run logs."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
