"""`recaug experiment report`: per-arm impressions, CTR and conversion with intervals, the
challenger-minus-champion difference with its interval, and a verdict.

Events come from the event log (recaug.events.log.read_events). Only events inside the
experiment's time window count. An event's arm is the one it carries; an event without one
gets the arm its user hashes to under the experiment's salt and share (the gateway's rule).
An impression is clicked (converted) when a click (purchase) of the same user and item
follows it with the same request id, or with no request id at all. Intervals: Wilson score
per arm, Newcombe's hybrid score for the difference (recaug.experiments.stats).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Literal

import pandas as pd
from pydantic import BaseModel, Field

from recaug.experiments.split import CHALLENGER, CHAMPION, assign_arm
from recaug.experiments.stats import Interval, newcombe_difference, wilson_interval
from recaug.experiments.store import Experiment

if TYPE_CHECKING:
    from recaug.settings import Settings

INTERVAL_METHOD = "Wilson score per arm; Newcombe hybrid score for the difference (impressions as independent trials)"
Verdict = Literal["challenger_wins", "champion_wins", "no_difference_yet", "not_enough_data"]


class Rate(BaseModel):
    count: int
    rate: float
    low: float
    high: float


class ArmReport(BaseModel):
    arm: str
    users: int
    impressions: int
    ctr: Rate
    conversion: Rate
    model_versions: list[str] = Field(description="versions named by the arm's impressions")


class Difference(BaseModel):
    metric: str
    difference: float = Field(description="challenger minus champion")
    low: float
    high: float
    relative: float | None = Field(description="difference / champion rate")


class ExperimentReport(BaseModel):
    experiment: Experiment
    window_start: str
    window_end: str
    confidence: float
    interval_method: str = INTERVAL_METHOD
    events_used: int
    arms_recomputed: int = Field(description="events whose arm came from the user hash (they carried none)")
    arms: dict[str, ArmReport]
    ctr_difference: Difference
    conversion_difference: Difference
    metric: str
    min_impressions: int
    verdict: Verdict
    verdict_text: str


def experiment_report(settings: "Settings", experiment: Experiment) -> ExperimentReport:
    from recaug.events.log import read_events

    return report_from_events(read_events(settings), experiment, settings.experiment.confidence,
                              settings.experiment.metric, settings.experiment.min_impressions)


def report_from_events(events: pd.DataFrame, experiment: Experiment, confidence: float = 0.95,
                       metric: str = "ctr", min_impressions: int = 500,
                       now: dt.datetime | None = None) -> ExperimentReport:
    end = experiment.end or now or dt.datetime.now(dt.timezone.utc)
    window = events[(events["timestamp"] >= pd.Timestamp(experiment.start))
                    & (events["timestamp"] <= pd.Timestamp(end))].copy()
    missing = window["arm"].isna() | ~window["arm"].isin([CHAMPION, CHALLENGER])
    window.loc[missing, "arm"] = [assign_arm(str(u), experiment.salt, experiment.share)
                                  for u in window.loc[missing, "user_id"]]
    impressions = _impressions(window)
    impressions["clicked"] = _followed_by(impressions, window, "click")
    impressions["converted"] = _followed_by(impressions, window, "purchase")
    arms = {arm: _arm_report(arm, impressions[impressions["arm"] == arm], confidence)
            for arm in (CHAMPION, CHALLENGER)}
    ctr = _difference("ctr", arms, confidence)
    conversion = _difference("conversion", arms, confidence)
    verdict, text = _verdict(arms, ctr if metric == "ctr" else conversion, min_impressions, confidence)
    return ExperimentReport(experiment=experiment, window_start=experiment.started_at, window_end=end.isoformat(),
                            confidence=confidence, events_used=len(window), arms_recomputed=int(missing.sum()),
                            arms=arms, ctr_difference=ctr, conversion_difference=conversion, metric=metric,
                            min_impressions=min_impressions, verdict=verdict, verdict_text=text)


def _impressions(events: pd.DataFrame) -> pd.DataFrame:
    """One row per shown item: repeated impression events of one answer's item count once."""
    shown = events[events["event_type"] == "impression"].copy()
    shown["request_key"] = shown["request_id"].where(shown["request_id"].notna(), shown["event_id"])
    return shown.drop_duplicates(["request_key", "item_id"]).reset_index(drop=True)


def _followed_by(impressions: pd.DataFrame, events: pd.DataFrame, kind: str) -> pd.Series:
    """Whether each impression got an event of `kind` (same user and item; same request id when
    the event names one; not before the impression)."""
    acts = events[events["event_type"] == kind]
    with_request = acts[acts["request_id"].notna()]
    without = acts[acts["request_id"].isna()]
    by_request = with_request.groupby(["request_id", "item_id"])["timestamp"].max()
    by_user = without.groupby(["user_id", "item_id"])["timestamp"].max()
    hits = []
    for row in impressions.itertuples(index=False):
        latest = by_request.get((row.request_id, row.item_id)) if isinstance(row.request_id, str) else None
        hit = latest is not None and latest >= row.timestamp
        if not hit:
            latest = by_user.get((row.user_id, row.item_id))
            hit = latest is not None and latest >= row.timestamp
        hits.append(bool(hit))
    return pd.Series(hits, index=impressions.index, dtype=bool)


def _arm_report(arm: str, impressions: pd.DataFrame, confidence: float) -> ArmReport:
    n = len(impressions)
    versions = sorted({str(v) for v in impressions["model_version"].dropna()})
    return ArmReport(arm=arm, users=int(impressions["user_id"].nunique()), impressions=n,
                     ctr=_rate(int(impressions["clicked"].sum()), n, confidence),
                     conversion=_rate(int(impressions["converted"].sum()), n, confidence), model_versions=versions)


def _rate(count: int, trials: int, confidence: float) -> Rate:
    interval = wilson_interval(count, trials, confidence)
    return Rate(count=count, rate=interval.estimate, low=interval.low, high=interval.high)


def _difference(metric: str, arms: dict[str, ArmReport], confidence: float) -> Difference:
    challenger, champion = arms[CHALLENGER], arms[CHAMPION]
    a, b = getattr(challenger, metric), getattr(champion, metric)
    interval: Interval = newcombe_difference(a.count, challenger.impressions, b.count, champion.impressions, confidence)
    relative = interval.estimate / b.rate if b.rate and not math.isnan(b.rate) and b.rate > 0 else None
    return Difference(metric=metric, difference=interval.estimate, low=interval.low, high=interval.high,
                      relative=relative)


def _verdict(arms: dict[str, ArmReport], difference: Difference, min_impressions: int,
             confidence: float) -> tuple[Verdict, str]:
    name = {"ctr": "CTR", "conversion": "conversion"}[difference.metric]
    short = [a.arm for a in arms.values() if a.impressions < min_impressions]
    if short:
        return "not_enough_data", (f"not enough data: {', '.join(short)} has fewer than {min_impressions} impressions "
                                   "(experiment.min_impressions); keep the experiment running")
    span = (f"{name} difference {difference.difference:+.4f}, {confidence:.0%} interval "
            f"[{difference.low:+.4f}, {difference.high:+.4f}]")
    if difference.low > 0:
        return "challenger_wins", f"challenger wins: {span} lies above 0"
    if difference.high < 0:
        return "champion_wins", f"champion wins: {span} lies below 0"
    return "no_difference_yet", f"no significant difference yet: {span} contains 0; keep the experiment running"


def format_report(report: ExperimentReport) -> str:
    """A table for people."""
    experiment = report.experiment
    level = f"{report.confidence:.0%}"
    lines = [f"experiment {experiment.experiment_id} ({experiment.status}): challenger version "
             f"{experiment.challenger_version} for {experiment.share:.0%} of users vs champion version "
             f"{experiment.champion_version}",
             f"window {report.window_start} .. {report.window_end}; {report.events_used} events "
             f"({report.arms_recomputed} with the arm recomputed from the user hash)",
             f"intervals: {report.interval_method}, {level}", "",
             f"{'arm':<11} {'users':>6} {'impressions':>11} {'clicks':>7} {'CTR':>7} {level + ' interval':>18} "
             f"{'purchases':>9} {'conv.':>7} {level + ' interval':>18}  versions"]
    for arm in report.arms.values():
        lines.append(f"{arm.arm:<11} {arm.users:>6} {arm.impressions:>11} {arm.ctr.count:>7} {_pct(arm.ctr.rate):>7} "
                     f"{_span(arm.ctr.low, arm.ctr.high):>18} {arm.conversion.count:>9} "
                     f"{_pct(arm.conversion.rate):>7} {_span(arm.conversion.low, arm.conversion.high):>18}  "
                     f"{','.join(arm.model_versions) or '-'}")
    lines.append("")
    for diff in (report.ctr_difference, report.conversion_difference):
        relative = f" ({diff.relative:+.1%} relative)" if diff.relative is not None else ""
        lines.append(f"challenger - champion {diff.metric:<10} {diff.difference * 100:+.2f} pp{relative}, "
                     f"{level} interval [{diff.low * 100:+.2f}, {diff.high * 100:+.2f}] pp")
    lines += ["", f"verdict ({report.metric}): {report.verdict_text}"]
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2%}"


def _span(low: float, high: float) -> str:
    return f"[{low:.2%}, {high:.2%}]"
