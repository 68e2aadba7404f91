"""Settings of online experiments (`experiment.*`): how users are split and how a winner is called.

They are read when an experiment starts (`recaug deploy --as-challenger`) and copied into the
experiment's record in the lake, so changing them later never re-splits a running experiment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ExperimentConfig(BaseModel):
    share: float = Field(0.5, gt=0.0, lt=1.0, description="fraction of users served by the challenger")
    salt: str | None = Field(
        None, description="salt of the user hash that assigns arms; default: the experiment id, so each "
        "experiment splits users afresh")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="confidence level of the report's intervals")
    metric: Literal["ctr", "conversion"] = Field(
        "ctr", description="the metric the verdict (and `recaug experiment conclude`) decides on")
    min_impressions: int = Field(
        500, ge=1, description="impressions each arm needs before the report calls a winner")
