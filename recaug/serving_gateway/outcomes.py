"""The gateway's stable vocabulary towards clients: answer sources and error codes.

Clients and dashboards key on these strings, so they never carry exception text; the
detail of a failure goes to the log instead.
"""

from __future__ import annotations

from typing import Literal

from recaug.errors import RecaugError

# Where an answer's items came from.
MODEL = "model"  # the live model version, decoded with that version's vocabulary
POPULAR = "popular"  # the user has no usable history (cold start): most popular unseen items
SEGMENT_POPULAR = "segment_popular"  # cold start of a user who declared attributes: popular in their segments
FALLBACK_FEATURE_STORE = "fallback:feature_store_unavailable"  # no user context: popular items, nothing excluded
FALLBACK_TRITON = "fallback:triton_unavailable"  # Triton unreachable or too slow: popular unseen items
FALLBACK_MODEL = "fallback:model_unavailable"  # no checked live version can answer: popular unseen items
Source = Literal[
    "model", "popular", "segment_popular", "fallback:feature_store_unavailable", "fallback:triton_unavailable",
    "fallback:model_unavailable",
]
SOURCES: tuple[str, ...] = (MODEL, POPULAR, SEGMENT_POPULAR, FALLBACK_FEATURE_STORE, FALLBACK_TRITON, FALLBACK_MODEL)

# Error codes (503 bodies, /readyz, metrics).
FEATURE_STORE_UNAVAILABLE = "feature_store_unavailable"
TRITON_UNAVAILABLE = "triton_unavailable"
MODEL_UNAVAILABLE = "model_unavailable"
NOTHING_TO_SERVE = "nothing_to_serve"  # metrics only: a dependency failed and no popular items exist (503)
ERROR_MESSAGES = {
    FEATURE_STORE_UNAVAILABLE: "the feature store did not answer in time or failed",
    TRITON_UNAVAILABLE: "the model server did not answer in time or refused the connection",
    MODEL_UNAVAILABLE: "no deployed and checked model version is available",
}
FALLBACK_FOR = {
    FEATURE_STORE_UNAVAILABLE: FALLBACK_FEATURE_STORE,
    TRITON_UNAVAILABLE: FALLBACK_TRITON,
    MODEL_UNAVAILABLE: FALLBACK_MODEL,
}


class Unavailable(RecaugError):
    """A dependency failed: `code` is the stable name, `detail` is for the log only."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def error_body(code: str) -> dict:
    """The JSON body of a 503: a stable code and a fixed message, never exception text."""
    return {"error": {"code": code, "message": ERROR_MESSAGES[code] + "; no fallback answer is available either"}}
