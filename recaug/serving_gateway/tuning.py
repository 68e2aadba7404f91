"""Gateway tunables that are not user-facing settings (yet): how often deploy records are
re-checked, how many vocabularies are kept, how long a failing dependency is skipped.

Kept beside the gateway (not in `deploy.gateway.*`) so the gateway can be tuned in tests
and benchmarks without touching the deploy configuration.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class GatewayTuning(BaseModel):
    records_check_interval_s: float = Field(
        0.5, ge=0, description="how often a request may trigger a (background) look at the deploy records folder; "
        "0 = on every request (tests)",
    )
    vocabularies_kept: int = Field(
        4, ge=1, description="model versions whose vocabulary stays in memory (the live one, the one it replaced, ...)"
    )
    breaker_cooldown_s: float = Field(
        1.0, ge=0, description="after a dependency failed, answer without it for this long, then let one request "
        "probe it; 0 = probe on every request",
    )
    popular_titles_kept: int = Field(
        500, ge=0, description="titles of the most popular items read from the lake at start, for fallback answers "
        "served without the feature store",
    )
    warning_interval_s: float = Field(
        5.0, ge=0, description="at most one warning per fallback source in this time (with the count since the last)"
    )
