"""The engagement score and the four at-risk rules of a learner in a course.

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

A large site scores tens of thousands of learners in one run, so what does not depend on the
learner is worked out once: the references once per course (`Scale`), the weights applied once
per settings (`Weights`: they depend only on whether completion is measured). A learner then
costs a few arithmetic operations and no dict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

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

Applied = tuple[float, float, float, float]
"""The weights applied to the four inputs, in INPUTS order."""
Normalised = tuple[float, float, float | None, float]
"""The four inputs between 0 and 1, in INPUTS order; completion None when not measured."""


class Inputs(Protocol):
    """What one learner did in one course during the window (`inputs.Learner` has them)."""

    @property
    def time_seconds(self) -> int: ...
    @property
    def active_days(self) -> int: ...
    @property
    def completion_percent(self) -> float | None: ...
    @property
    def interactions(self) -> int: ...


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
    """The divisor of each relative input for one course: max(90th percentile, floor).

    The counts are ints, which the percentile's arithmetic turns into the same floats as
    converting them first would (every count is far below 2**53)."""
    floor = floors(window_days)
    columns = {
        "time": [learner.time_seconds for learner in learners],
        "login": [learner.active_days for learner in learners],
        "interaction": [learner.interactions for learner in learners],
    }
    return {
        name: max(percentile(values, PERCENTILE), floor[name]) for name, values in columns.items()
    }


def applied_weights(settings: EngagementSettings, completion_measured: bool) -> Applied | None:
    """The configured weights of the measured inputs divided by their sum, 0 for completion when
    it is not measured; None when only unmeasured inputs carry weight (completion weighted 1.0
    in a course without activity completion): there is nothing to score."""
    measured = [name for name in INPUTS if completion_measured or name != "completion"]
    available = sum(settings.weights[name] for name in measured)
    if available <= 0:
        return None
    time, login, completion, interaction = (
        settings.weights[name] / available if name in measured else 0.0 for name in INPUTS
    )
    return time, login, completion, interaction


@dataclass(frozen=True)
class Weights:
    """The two sets of weights of one run's settings: completion measured, and not."""

    measured: Applied | None
    unmeasured: Applied | None

    @classmethod
    def of(cls, settings: EngagementSettings) -> Weights:
        return cls(applied_weights(settings, True), applied_weights(settings, False))


NOTHING_APPLIED: Applied = (0.0, 0.0, 0.0, 0.0)
"""The weights --explain shows when there is nothing to score."""


class Scale:
    """What the learners of one course are measured with: its references and the weights."""

    __slots__ = ("_interaction", "_login", "_time", "references", "weights")

    def __init__(self, references: dict[str, float], weights: Weights) -> None:
        self.references = references
        self.weights = weights
        self._time = references["time"]
        self._login = references["login"]
        self._interaction = references["interaction"]

    def normalised(self, inputs: Inputs) -> Normalised:
        percent = inputs.completion_percent
        return (
            min(inputs.time_seconds / self._time, 1.0),
            min(inputs.active_days / self._login, 1.0),
            None if percent is None else min(max(percent / 100.0, 0.0), 1.0),
            min(inputs.interactions / self._interaction, 1.0),
        )

    def applied(self, normalised: Normalised) -> Applied | None:
        """The weights applied to a learner's inputs (None: nothing to score)."""
        weights = self.weights
        return weights.unmeasured if normalised[2] is None else weights.measured

    def score(self, inputs: Inputs) -> float | None:
        """100 x the weighted sum of the normalised inputs, rounded to 2 decimals."""
        normalised = self.normalised(inputs)
        weights = self.applied(normalised)
        if weights is None:
            return None
        time, login, completion, interaction = normalised
        total = (
            weights[0] * time
            + weights[1] * login
            + weights[2] * (completion or 0.0)
            + weights[3] * interaction
        )
        return round(100.0 * total, 2)


class Risk(NamedTuple):
    fired: tuple[bool, bool, bool, bool]
    """Whether each rule fired, in RULES order."""
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
    fired = (
        inputs.time_seconds < settings.min_time_seconds,
        days is None or days > settings.max_days_since_access,
        completion is not None and completion < settings.min_completion_percent,
        score is not None and score < settings.min_engagement,
    )
    points = RULE_POINTS * sum(fired)
    return Risk(fired, days, points, points >= settings.at_risk_score and not completed)
