"""[analytics.engagement] and [analytics.at_risk], checked once before any row is computed.

A score whose weights do not sum to 1.0 would not be a 0..100 score any more, and a negative
threshold would make a rule silently never (or always) fire, so both are refused with the keys
named rather than computed.
"""

from __future__ import annotations

from dataclasses import dataclass

from manireports.config import Config
from manireports.errors import ConfigError

INPUTS = ("time", "login", "completion", "interaction")
"""The four inputs of the engagement score, in the order they are shown."""
WEIGHT_TOLERANCE = 1e-6
"""Weights written as decimals (0.3 + 0.2 + ...) do not add up exactly in binary floating point."""


@dataclass(frozen=True)
class EngagementSettings:
    weights: dict[str, float]
    window_days: int

    @classmethod
    def from_config(cls, config: Config) -> EngagementSettings:
        section = config.settings.analytics.engagement
        weights = {
            "time": section.time_weight,
            "login": section.login_weight,
            "completion": section.completion_weight,
            "interaction": section.interaction_weight,
        }
        keys = {name: f"analytics.engagement.{name}_weight" for name in INPUTS}
        for name, weight in weights.items():
            if not 0.0 <= weight <= 1.0:
                raise ConfigError(
                    f"{keys[name]} must be between 0 and 1, not {weight} "
                    f"(from {config.origin(keys[name])})."
                )
        total = sum(weights.values())
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            terms = " + ".join(f"{name}_weight {weights[name]:g}" for name in INPUTS)
            origins = sorted({config.origin(key) for key in keys.values()})
            raise ConfigError(
                f"The engagement weights must sum to 1.0, but {terms} = {total:g} "
                f"(from {', '.join(origins)}). Change [analytics.engagement] so they sum to 1.0."
            )
        window = section.window_days
        if window < 1:
            raise ConfigError(
                f"analytics.engagement.window_days must be at least 1 day, not {window} "
                f"(from {config.origin('analytics.engagement.window_days')})."
            )
        return cls(weights=weights, window_days=window)


@dataclass(frozen=True)
class RiskSettings:
    min_time_seconds: int
    max_days_since_access: int
    min_completion_percent: float
    min_engagement: float
    at_risk_score: int

    @classmethod
    def from_config(cls, config: Config) -> RiskSettings:
        def key(name: str) -> str:
            return f"analytics.at_risk.{name}"

        def at_least_zero(name: str, value: float) -> None:
            if value < 0:
                origin = config.origin(key(name))
                raise ConfigError(f"{key(name)} must be 0 or more, not {value:g} (from {origin}).")

        section = config.settings.analytics.at_risk
        minutes = section.min_time_minutes
        days = section.max_days_since_access
        completion = section.min_completion_percent
        engagement = section.min_engagement
        for name, value in (
            ("min_time_minutes", minutes),
            ("max_days_since_access", days),
            ("min_completion_percent", completion),
            ("min_engagement", engagement),
        ):
            at_least_zero(name, value)
        score = section.at_risk_score
        if not 0 < score <= 100:
            raise ConfigError(
                f"{key('at_risk_score')} must be between 1 and 100 (each rule adds 25), not "
                f"{score} (from {config.origin(key('at_risk_score'))})."
            )
        return cls(
            min_time_seconds=minutes * 60,
            max_days_since_access=days,
            min_completion_percent=completion,
            min_engagement=engagement,
            at_risk_score=score,
        )
