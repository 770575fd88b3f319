"""The scoring rules as pure functions: percentiles, references, weights and each rule's boundary
(one below, at, one above its threshold), and the score against its definition written out."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manireports.analytics.scoring import (
    DAY,
    NOTHING_APPLIED,
    RULES,
    Scale,
    Weights,
    course_references,
    floors,
    percentile,
    risk,
)
from manireports.analytics.settings import INPUTS, EngagementSettings, RiskSettings
from manireports.config import load_config
from manireports.errors import ConfigError


@dataclass(frozen=True)
class Inputs:
    """What the scoring reads of a learner (an `inputs.Learner` in the product)."""

    time_seconds: int
    active_days: int
    completion_percent: float | None
    interactions: int


def score(
    inputs: Inputs, references: dict[str, float], weighting: EngagementSettings
) -> float | None:
    return Scale(references, Weights.of(weighting)).score(inputs)


NOW = 1_800_000_000
THRESHOLDS = RiskSettings(
    min_time_seconds=3600,
    max_days_since_access=14,
    min_completion_percent=25.0,
    min_engagement=30.0,
    at_risk_score=50,
)
COMPLETION_ONLY = EngagementSettings(
    weights={"time": 0.0, "login": 0.0, "completion": 1.0, "interaction": 0.0}, window_days=10
)
# A learner who fires nothing: enough time, seen an hour ago, all done, fully engaged.
FINE = Inputs(time_seconds=3600, active_days=5, completion_percent=100.0, interactions=50)


def fired(
    inputs: Inputs, engagement: float | None = 100.0, seen: int | None = NOW - 3600
) -> list[str]:
    result = risk(inputs, engagement, seen, NOW, THRESHOLDS)
    return [rule for rule, on in zip(RULES, result.fired, strict=True) if on]


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.9) == 0.0
    assert percentile([7.0], 0.9) == 7.0
    # 0.9 x (2 - 1) = 0.9: 10 + 0.9 x (20 - 10) = 19
    assert percentile([20.0, 10.0], 0.9) == pytest.approx(19.0)
    # 11 values 1..11: 0.9 x 10 = 9 -> the 10th value, 10
    assert percentile([float(v) for v in range(1, 12)], 0.9) == 10.0


def test_one_very_active_learner_does_not_flatten_the_course() -> None:
    # Ten learners with 20000 s and one with 1,000,000 s over 30 days: the 90th percentile is
    # the 10th of 11 sorted values, 20000, above the floor 360 x 30 = 10800.
    learners = [Inputs(20_000, 3, None, 70)] * 10 + [Inputs(1_000_000, 30, None, 5000)]
    references = course_references(learners, 30)
    assert references == {"time": 20_000.0, "login": 6.0, "interaction": 70.0}
    settings = EngagementSettings(
        weights={"time": 0.5, "login": 0.25, "completion": 0.0, "interaction": 0.25},
        window_days=30,
    )
    # login 3 / max(3, 0.2 x 30 = 6) = 0.5; time and interactions 1:
    # (0.5 x 1 + 0.25 x 0.5 + 0.25 x 1) / 1.0 = 0.875 -> 87.5
    assert score(learners[0], references, settings) == 87.5
    assert score(learners[-1], references, settings) == 100.0


def test_time_rule_boundary() -> None:
    for seconds, expected in ((3599, ["low_time"]), (3600, []), (3601, [])):
        assert fired(Inputs(seconds, 5, 100.0, 50)) == expected, seconds


def test_access_rule_boundary_and_never() -> None:
    # Whole days since the last access against 14: fires from 15 on.
    for seen, expected in (
        (NOW - 14 * DAY + 1, []),  # 13 days 23:59:59
        (NOW - 14 * DAY, []),  # 14 days
        (NOW - 15 * DAY + 1, []),  # still 14 whole days
        (NOW - 15 * DAY, ["no_recent_access"]),
        (None, ["no_recent_access"]),  # never accessed
        (NOW + DAY, []),  # an access after an --as-of in the past counts as today
    ):
        assert fired(FINE, seen=seen) == expected, seen


def test_completion_rule_boundary_and_unmeasured() -> None:
    for percent, expected in ((24.99, ["low_completion"]), (25.0, []), (25.01, []), (None, [])):
        assert fired(Inputs(3600, 5, percent, 50)) == expected, percent


def test_engagement_rule_boundary() -> None:
    # With all the weight on completion the score is the completion percent itself.
    for percent, expected in ((29.99, ["low_engagement"]), (30.0, []), (30.01, [])):
        inputs = Inputs(3600, 5, percent, 50)
        found = score(inputs, course_references([inputs], 10), COMPLETION_ONLY)
        assert found == percent
        assert fired(inputs, engagement=found) == expected, percent
    assert fired(FINE, engagement=None) == []


def test_at_risk_score_boundary() -> None:
    one = risk(Inputs(0, 5, 100.0, 50), 100.0, NOW, NOW, THRESHOLDS)
    two = risk(Inputs(0, 5, 100.0, 50), 10.0, NOW, NOW, THRESHOLDS)
    three = risk(Inputs(0, 5, 10.0, 50), 10.0, NOW, NOW, THRESHOLDS)
    assert [(r.score, r.at_risk) for r in (one, two, three)] == [
        (25, False),
        (50, True),
        (75, True),
    ]


def test_a_learner_who_completed_the_course_is_not_at_risk_in_it() -> None:
    # Never accessed, no time, low engagement: 75 points, but the course is complete.
    finished = risk(Inputs(0, 0, 100.0, 0), 10.0, None, NOW, THRESHOLDS, completed=True)
    assert finished.score == 75
    assert finished.fired == (True, True, False, True)  # time, access, -, engagement
    assert finished.at_risk is False
    assert risk(Inputs(0, 0, 100.0, 0), 10.0, None, NOW, THRESHOLDS).at_risk is True


def test_weights_must_sum_to_one() -> None:
    def settings(**values: str) -> EngagementSettings:
        environ = {f"MANIREPORTS_ANALYTICS_ENGAGEMENT_{k.upper()}": v for k, v in values.items()}
        return EngagementSettings.from_config(load_config(environ=environ))

    assert settings().weights == {"time": 0.3, "login": 0.2, "completion": 0.3, "interaction": 0.2}
    # Decimal fractions that do not add up exactly in binary are accepted.
    thirds = settings(time_weight="0.1", login_weight="0.2", completion_weight="0.3",
                      interaction_weight="0.4")  # fmt: skip
    assert sum(thirds.weights.values()) == pytest.approx(1.0)
    with pytest.raises(ConfigError) as error:
        settings(time_weight="0.5")
    message = str(error.value)
    for part in ("time_weight 0.5", "login_weight 0.2", "completion_weight 0.3",
                 "interaction_weight 0.2", "= 1.2", "[analytics.engagement]"):  # fmt: skip
        assert part in message
    with pytest.raises(ConfigError, match="between 0 and 1"):
        settings(time_weight="-0.1", login_weight="0.6")
    with pytest.raises(ConfigError, match="window_days must be at least 1"):
        settings(window_days="0")


def test_risk_thresholds_are_checked() -> None:
    def settings(**values: str) -> RiskSettings:
        environ = {f"MANIREPORTS_ANALYTICS_AT_RISK_{k.upper()}": v for k, v in values.items()}
        return RiskSettings.from_config(load_config(environ=environ))

    assert settings() == RiskSettings(3600, 14, 25.0, 30.0, 50)
    with pytest.raises(ConfigError, match="min_time_minutes must be 0 or more"):
        settings(min_time_minutes="-1")
    with pytest.raises(ConfigError, match="at_risk_score must be between 1 and 100"):
        settings(at_risk_score="0")


def defined(
    inputs: Inputs, references: dict[str, float], weights: dict[str, float]
) -> tuple[dict[str, float | None], dict[str, float], float | None]:
    """docs/analytics.md's normalisation, weights and score, written out input by input."""
    raw = {
        "time": float(inputs.time_seconds),
        "login": float(inputs.active_days),
        "completion": inputs.completion_percent,
        "interaction": float(inputs.interactions),
    }
    normalised: dict[str, float | None] = {}
    for name in INPUTS:
        value = raw[name]
        if value is None:
            normalised[name] = None
        elif name == "completion":
            normalised[name] = min(max(value / 100.0, 0.0), 1.0)
        else:
            normalised[name] = min(value / references[name], 1.0)
    available = sum(weights[name] for name in INPUTS if normalised[name] is not None)
    if available <= 0:
        return normalised, dict.fromkeys(INPUTS, 0.0), None
    applied = {
        name: weights[name] / available if normalised[name] is not None else 0.0 for name in INPUTS
    }
    total = sum(applied[name] * (normalised[name] or 0.0) for name in INPUTS)
    return normalised, applied, round(100.0 * total, 2)


LEARNERS = st.lists(
    st.builds(
        Inputs,
        st.integers(0, 2_000_000),
        st.integers(0, 90),
        st.one_of(st.none(), st.floats(0.0, 100.0)),
        st.integers(0, 50_000),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    learners=LEARNERS,
    parts=st.lists(st.integers(0, 10), min_size=4, max_size=4).filter(any),
    window=st.integers(1, 90),
)
def test_scale_scores_every_learner_as_defined(
    learners: list[Inputs], parts: list[int], window: int
) -> None:
    """The course's scale (references, weights worked out once) gives each learner the very
    floats of the definition, to the last bit: the rows show them as they are."""
    weights = {name: part / sum(parts) for name, part in zip(INPUTS, parts, strict=True)}
    floor = floors(window)
    references = {
        "time": max(percentile([float(x.time_seconds) for x in learners], 0.9), floor["time"]),
        "login": max(percentile([float(x.active_days) for x in learners], 0.9), floor["login"]),
        "interaction": max(
            percentile([float(x.interactions) for x in learners], 0.9), floor["interaction"]
        ),
    }
    scale = Scale(course_references(learners, window), Weights.of(EngagementSettings(weights, 1)))
    assert repr(scale.references) == repr(references)
    for learner in learners:
        normalised = scale.normalised(learner)
        applied = scale.applied(normalised) or NOTHING_APPLIED
        found = (
            dict(zip(INPUTS, normalised, strict=True)),
            dict(zip(INPUTS, applied, strict=True)),
            scale.score(learner),
        )
        assert repr(found) == repr(defined(learner, references, weights))
