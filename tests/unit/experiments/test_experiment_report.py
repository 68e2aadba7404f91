"""The experiment report on an event log frame (the columns of recaug.events.log.read_events)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recaug.experiments.report import format_report, report_from_events
from recaug.experiments.split import assign_arm
from recaug.experiments.stats import newcombe_difference, wilson_interval
from recaug.experiments.store import Experiment

START = pd.Timestamp("2026-05-01 10:00", tz="UTC")
EXPERIMENT = Experiment(experiment_id="exp-1", model_name="recaug_seq", salt="exp-1", share=0.5, champion_version=3,
                        challenger_version=4, challenger_artifact="/lake/models/r4", started_at=START.isoformat())


class Log:
    """Builds events as the gateway's clients post them."""

    def __init__(self):
        self.rows = []

    def add(self, user, item, kind, at, request_id=None, arm=None, version=None):
        self.rows.append(dict(event_id=f"e{len(self.rows)}", user_id=user, item_id=item, event_type=kind,
                              value=np.nan, timestamp=at, request_id=request_id, arm=arm, model_version=version,
                              received_at=at))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _users(arm: str, count: int) -> list[str]:
    return [u for u in (f"u{i}" for i in range(10_000)) if assign_arm(u, EXPERIMENT.salt, EXPERIMENT.share) == arm][:count]


def _traffic(log: Log, arm: str, users: list[str], clicks_every: int, purchase_every: int, with_arm: bool) -> None:
    version = "4" if arm == "challenger" else "3"
    n = 0
    for user in users:
        for r in range(5):
            request = f"{user}-r{r}"
            at = START + pd.Timedelta(minutes=r + 1)
            for item in ("a", "b"):
                log.add(user, item, "impression", at, request, arm if with_arm else None, version)
                n += 1
                if n % clicks_every == 0:
                    log.add(user, item, "click", at + pd.Timedelta(seconds=5), request, arm if with_arm else None)
                if n % purchase_every == 0:
                    log.add(user, item, "purchase", at + pd.Timedelta(seconds=9), request)


def test_counts_rates_intervals_and_a_challenger_win():
    log = Log()
    _traffic(log, "champion", _users("champion", 100), clicks_every=10, purchase_every=50, with_arm=True)
    _traffic(log, "challenger", _users("challenger", 100), clicks_every=4, purchase_every=25, with_arm=True)
    report = report_from_events(log.frame(), EXPERIMENT, min_impressions=500,
                                now=(START + pd.Timedelta(hours=1)).to_pydatetime())

    champion, challenger = report.arms["champion"], report.arms["challenger"]
    assert (champion.users, champion.impressions, champion.ctr.count, champion.conversion.count) == (100, 1000, 100, 20)
    assert (challenger.impressions, challenger.ctr.count, challenger.conversion.count) == (1000, 250, 40)
    assert (challenger.ctr.low, challenger.ctr.high) == pytest.approx(wilson_interval(250, 1000)[1:])
    assert champion.model_versions == ["3"] and challenger.model_versions == ["4"]
    expected = newcombe_difference(250, 1000, 100, 1000)
    assert (report.ctr_difference.difference, report.ctr_difference.low, report.ctr_difference.high) == \
        pytest.approx(tuple(expected))
    assert report.ctr_difference.relative == pytest.approx(1.5)
    assert report.verdict == "challenger_wins" and report.arms_recomputed == 60  # the purchases carry no arm
    table = format_report(report)
    assert "challenger wins" in table and "25.00%" in table and "10.00%" in table


def test_events_without_an_arm_get_their_users_arm_and_events_outside_the_window_are_ignored():
    log = Log()
    _traffic(log, "champion", _users("champion", 60), clicks_every=5, purchase_every=1000, with_arm=False)
    _traffic(log, "challenger", _users("challenger", 60), clicks_every=5, purchase_every=1000, with_arm=False)
    user = _users("champion", 1)[0]
    log.add(user, "z", "impression", START - pd.Timedelta(minutes=1), "before", "challenger", "4")
    log.add(user, "z", "click", START - pd.Timedelta(seconds=30), "before", "challenger")
    report = report_from_events(log.frame(), EXPERIMENT, min_impressions=500,
                                now=(START + pd.Timedelta(hours=1)).to_pydatetime())

    assert report.arms["champion"].impressions == 600 and report.arms["challenger"].impressions == 600
    assert report.arms_recomputed == report.events_used
    assert report.verdict == "no_difference_yet" and "contains 0" in report.verdict_text


def test_a_click_counts_only_for_its_own_request_and_not_before_the_impression():
    log = Log()
    at = START + pd.Timedelta(minutes=1)
    log.add("u1", "a", "impression", at, "r1", "champion", "3")
    log.add("u1", "a", "impression", at, "r1", "champion", "3")  # the same answer's item posted twice
    log.add("u1", "a", "impression", at + pd.Timedelta(minutes=5), "r2", "champion", "3")
    log.add("u1", "a", "click", at + pd.Timedelta(minutes=1), "r1", "champion")  # for r1 only
    log.add("u2", "b", "impression", at, "r3", "challenger", "4")
    log.add("u2", "b", "click", at - pd.Timedelta(seconds=30), None, "challenger")  # before it was shown
    report = report_from_events(log.frame(), EXPERIMENT, min_impressions=1,
                                now=(START + pd.Timedelta(hours=1)).to_pydatetime())

    assert (report.arms["champion"].impressions, report.arms["champion"].ctr.count) == (2, 1)
    assert (report.arms["challenger"].impressions, report.arms["challenger"].ctr.count) == (1, 0)


def test_too_few_impressions_give_no_verdict():
    log = Log()
    _traffic(log, "champion", _users("champion", 10), clicks_every=10, purchase_every=50, with_arm=True)
    _traffic(log, "challenger", _users("challenger", 10), clicks_every=2, purchase_every=50, with_arm=True)
    report = report_from_events(log.frame(), EXPERIMENT, min_impressions=500,
                                now=(START + pd.Timedelta(hours=1)).to_pydatetime())
    assert report.verdict == "not_enough_data"
    assert "champion, challenger has fewer than 500 impressions" in report.verdict_text
