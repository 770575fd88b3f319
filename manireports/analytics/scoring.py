"""The engagement score and the four at-risk rules, as pure functions of a learner's inputs.

Normalisation. Time, active days and interactions have no natural maximum, so each is divided
by a reference for its course and capped at 1: the course's 90th percentile of that input over
its tracked learners, but never less than a floor that grows with the window. The percentile
rather than the maximum keeps one very active learner from pushing everyone else towards 0; the
floor keeps a small or quiet course (one learner, or everyone idle) from handing full marks for
a few minutes of activity, which is what a reference of "the best in the course" alone would
do. Completion is already a share (Moodle's course progress) and is used as it is, divided by
100. When a course tracks no activity completion the input does not exist: its weight is shared
out among the other three in proportion, so the learner is neither rewarded nor punished for
what the course does not measure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from manireports.analytics.settings import INPUTS, EngagementSettings, RiskSettings

PERCENTILE = 0.9
SECONDS_FLOOR_PER_DAY = 360
"""Six minutes a day of the window: three hours over 30 days."""
ACTIVE_DAYS_FLOOR_SHARE = 0.2
"""One day in five of the window: 6 of 30 days."""
INTERACTIONS_FLOOR_PER_DAY = 2
"""Two logged actions a day of the window: 60 over 30 days."""
RULE_POINTS = 25
RULES = ("low_time", "no_recent_access", "low_completion", "low_engagement")
DAY = 86_400


@dataclass(frozen=True)
class Inputs:
    """What one learner did in one course during the window."""

    time_seconds: int
    active_days: int
    completion_percent: float | None
    interactions: int

    def raw(self, name: str) -> float | None:
        # Called for every input of every learner several times: no dict built per call.
        if name == "completion":
            return self.completion_percent
        return float(getattr(self, _COUNTS[name]))


_COUNTS = {"time": "time_seconds", "login": "active_days", "interaction": "interactions"}


def percentile(values: Sequence[float], share: float) -> float:
    """Linear interpolation between the two nearest ranks (numpy's and pandas' default)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def floors(window_days: int) -> dict[str, float]:
    return {
        "time": float(SECONDS_FLOOR_PER_DAY * window_days),
        "login": ACTIVE_DAYS_FLOOR_SHARE * window_days,
        "interaction": float(INTERACTIONS_FLOOR_PER_DAY * window_days),
    }


def course_references(learners: Sequence[Inputs], window_days: int) -> dict[str, float]:
    """The divisor of each relative input for one course: max(90th percentile, floor)."""
    references = {}
    for name, floor in floors(window_days).items():
        values = [learner.raw(name) or 0.0 for learner in learners]
        references[name] = max(percentile(values, PERCENTILE), floor)
    return references


@dataclass(frozen=True)
class Engagement:
    """A learner's score with what it was made of: normalised inputs and the weights applied."""

    normalised: dict[str, float | None]
    weights: dict[str, float]
    score: float | None


def engagement(
    inputs: Inputs, references: dict[str, float], settings: EngagementSettings
) -> Engagement:
    normalised: dict[str, float | None] = {}
    for name in INPUTS:
        value = inputs.raw(name)
        if value is None:
            normalised[name] = None
        elif name == "completion":
            normalised[name] = min(max(value / 100.0, 0.0), 1.0)
        else:
            normalised[name] = min(value / references[name], 1.0)
    available = sum(settings.weights[name] for name in INPUTS if normalised[name] is not None)
    if available <= 0:
        # Only unmeasured inputs carry weight (completion weighted 1.0 in a course without
        # activity completion): there is nothing to score.
        weights = {name: 0.0 for name in INPUTS}
        return Engagement(normalised, weights, None)
    weights = {
        name: settings.weights[name] / available if normalised[name] is not None else 0.0
        for name in INPUTS
    }
    total = sum(weights[name] * (normalised[name] or 0.0) for name in INPUTS)
    return Engagement(normalised, weights, round(100.0 * total, 2))


@dataclass(frozen=True)
class Risk:
    fired: dict[str, bool]
    days_since_access: int | None
    score: int
    at_risk: bool


def days_since(lastaccess: int | None, now: int) -> int | None:
    """Whole days elapsed; an access after `now` (an --as-of in the past) counts as today."""
    if not lastaccess:
        return None
    return max(0, (now - lastaccess) // DAY)


def risk(
    inputs: Inputs,
    score: float | None,
    lastaccess: int | None,
    now: int,
    settings: RiskSettings,
    *,
    completed: bool = False,
) -> Risk:
    """The four rules. Every comparison is strict: a value exactly at its threshold is fine.

    A learner who never accessed the course has no days since access and fires the access
    rule; a course without activity completion, or a score that could not be computed, fires
    neither the completion nor the engagement rule, since nothing was measured to be low. A
    learner who completed the course is not at risk in it, whatever the rules say: they show
    what was measured, and the flag says whether anyone needs to act.
    """
    days = days_since(lastaccess, now)
    completion = inputs.completion_percent
    fired = {
        "low_time": inputs.time_seconds < settings.min_time_seconds,
        "no_recent_access": days is None or days > settings.max_days_since_access,
        "low_completion": completion is not None and completion < settings.min_completion_percent,
        "low_engagement": score is not None and score < settings.min_engagement,
    }
    points = RULE_POINTS * sum(fired.values())
    return Risk(fired, days, points, points >= settings.at_risk_score and not completed)
