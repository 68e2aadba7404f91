"""recaug: LLM-augmented, time-aware sequential recommendation platform."""

__version__ = "0.1.0"
