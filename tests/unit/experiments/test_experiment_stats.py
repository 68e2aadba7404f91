"""Intervals against the published values of Newcombe (Statistics in Medicine 1998, 17:857 and
17:873): Wilson score (his method 3) and the hybrid score interval of a difference (method 10)."""

from __future__ import annotations

import math

import pytest

from recaug.experiments.stats import newcombe_difference, wilson_interval, z_value


@pytest.mark.parametrize("successes, trials, low, high", [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_interval_matches_newcombe_table(successes, trials, low, high):
    interval = wilson_interval(successes, trials)
    assert interval.estimate == pytest.approx(successes / trials)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


@pytest.mark.parametrize("a, n, b, m, low, high", [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
])
def test_difference_interval_matches_newcombe_method_10(a, n, b, m, low, high):
    interval = newcombe_difference(a, n, b, m)
    assert interval.estimate == pytest.approx(a / n - b / m)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


def test_higher_confidence_widens_and_no_trials_gives_no_estimate():
    narrow, wide = wilson_interval(30, 200, 0.90), wilson_interval(30, 200, 0.99)
    assert wide.low < narrow.low and wide.high > narrow.high
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    empty = wilson_interval(0, 0)
    assert math.isnan(empty.estimate) and (empty.low, empty.high) == (0.0, 1.0)
    with pytest.raises(ValueError, match="successes 5 must lie in"):
        wilson_interval(5, 3)
