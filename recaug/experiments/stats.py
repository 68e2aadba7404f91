"""Confidence intervals for click-through and conversion rates.

Per arm: the Wilson score interval of a binomial proportion (good coverage for small
counts and rates near 0, unlike the normal approximation). For the difference between
arms: Newcombe's hybrid score interval (method 10 of Newcombe, Statistics in Medicine
17:873-890, 1998), built from the two Wilson intervals. Both treat impressions as
independent trials.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from scipy.stats import norm


class Interval(NamedTuple):
    estimate: float
    low: float
    high: float


def z_value(confidence: float) -> float:
    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval of successes/trials; (nan, 0, 1) without trials."""
    if trials <= 0:
        return Interval(math.nan, 0.0, 1.0)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes {successes} must lie in [0, trials={trials}]")
    z = z_value(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(successes_a: int, trials_a: int, successes_b: int, trials_b: int,
                        confidence: float = 0.95) -> Interval:
    """Interval of p_a - p_b (Newcombe's hybrid score method); nan without trials on either side."""
    if trials_a <= 0 or trials_b <= 0:
        return Interval(math.nan, -1.0, 1.0)
    p_a, low_a, high_a = wilson_interval(successes_a, trials_a, confidence)
    p_b, low_b, high_b = wilson_interval(successes_b, trials_b, confidence)
    difference = p_a - p_b
    below = math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    above = math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return Interval(difference, difference - below, difference + above)
