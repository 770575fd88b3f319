"""The rows of the user_engagement and at_risk reports, and the columns --explain adds.

Both reports score every visible learner the same way; at_risk adds the four rules, one boolean
column each, so a manager reading the sheet sees why a learner is flagged without --explain.
--explain adds columns rather than a block of text so that CSV, JSON and XLSX carry it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from manireports.analytics.inputs import Gathered, Learner, gather
from manireports.analytics.scoring import (
    RULES,
    Engagement,
    Risk,
    course_references,
    engagement,
    risk,
)
from manireports.analytics.settings import INPUTS, EngagementSettings, RiskSettings
from manireports.app import App
from manireports.export import Column
from manireports.reports.catalogue import CATALOGUE
from manireports.scope import Scope

Row = tuple[Any, ...]

# Defined once, in the catalogue, which lists the reports without loading this code.
ENGAGEMENT_COLUMNS = CATALOGUE["user_engagement"].columns
AT_RISK_COLUMNS = CATALOGUE["at_risk"].columns
_EXPLAIN_WINDOW = (
    Column("window_from", "date", "Window from"),
    Column("window_to", "date", "Window to"),
    Column("time_source", "text", "Time from"),
)
_EXPLAIN_INPUTS = (
    Column("time_reference", "float", "Time reference (s)"),
    Column("time_normalised", "float", "Time normalised"),
    Column("time_weight", "float", "Time weight"),
    Column("login_reference", "float", "Active days reference"),
    Column("login_normalised", "float", "Active days normalised"),
    Column("login_weight", "float", "Active days weight"),
    Column("completion_normalised", "float", "Completion normalised"),
    Column("completion_weight", "float", "Completion weight"),
    Column("interaction_reference", "float", "Interactions reference"),
    Column("interaction_normalised", "float", "Interactions normalised"),
    Column("interaction_weight", "float", "Interactions weight"),
)
ENGAGEMENT_EXPLAIN_COLUMNS = (*ENGAGEMENT_COLUMNS, *_EXPLAIN_WINDOW, *_EXPLAIN_INPUTS)
AT_RISK_EXPLAIN_COLUMNS = (
    *AT_RISK_COLUMNS,
    Column("min_time_seconds", "int", "Threshold: time (s)"),
    Column("max_days_since_access", "int", "Threshold: days since access"),
    Column("min_completion_percent", "float", "Threshold: completion %"),
    Column("min_engagement", "float", "Threshold: engagement"),
    Column("at_risk_score", "int", "At risk from score"),
    Column("active_days", "int", "Active days"),
    Column("interactions", "int", "Interactions"),
    *_EXPLAIN_WINDOW,
    *_EXPLAIN_INPUTS,
)


@dataclass(frozen=True)
class Scored:
    learner: Learner
    references: dict[str, float]
    engagement: Engagement
    risk: Risk


@dataclass(frozen=True)
class Analysis:
    scored: list[Scored]
    gathered: Gathered
    engagement: EngagementSettings
    risk: RiskSettings


def analyse(app: App, *, now: int, courseid: int | None, scope: Scope, what: str) -> Analysis:
    """Score the visible learners. The settings are checked before any database is read."""
    settings = EngagementSettings.from_config(app.config)
    thresholds = RiskSettings.from_config(app.config)
    gathered = gather(
        app, now=now, window_days=settings.window_days, courseid=courseid, scope=scope, what=what
    )
    by_course: dict[int, list[Learner]] = {}
    for learner in gathered.learners:
        by_course.setdefault(learner.courseid, []).append(learner)
    scored = []
    for learners in by_course.values():
        references = course_references([x.inputs() for x in learners], settings.window_days)
        for learner in learners:
            if not learner.visible:
                continue
            inputs = learner.inputs()
            result = engagement(inputs, references, settings)
            flags = risk(
                inputs,
                result.score,
                learner.lastaccess,
                now,
                thresholds,
                completed=learner.completed,
            )
            scored.append(Scored(learner, references, result, flags))
    return Analysis(scored, gathered, settings, thresholds)


def _explained(analysis: Analysis, item: Scored) -> Row:
    window = analysis.gathered.window
    values: list[Any] = [window.first_day, window.last_day, analysis.gathered.time_source]
    for name in INPUTS:
        if name != "completion":
            values.append(round(item.references[name], 2))
        normalised = item.engagement.normalised[name]
        values.append(None if normalised is None else round(normalised, 4))
        values.append(round(item.engagement.weights[name], 4))
    return tuple(values)


def engagement_rows(analysis: Analysis, *, explain: bool) -> Iterator[Row]:
    for item in analysis.scored:
        learner = item.learner
        row: Row = (
            learner.userid,
            learner.username,
            learner.courseid,
            learner.time_seconds,
            learner.active_days,
            learner.completion_percent,
            learner.interactions,
            item.engagement.score,
        )
        yield (*row, *_explained(analysis, item)) if explain else row


def at_risk_rows(analysis: Analysis, *, explain: bool) -> Iterator[Row]:
    thresholds = analysis.risk
    for item in analysis.scored:
        learner, flags = item.learner, item.risk
        row: Row = (
            learner.userid,
            learner.username,
            learner.courseid,
            flags.score,
            flags.at_risk,
            *(flags.fired[rule] for rule in RULES),
            learner.time_seconds,
            learner.lastaccess,
            flags.days_since_access,
            learner.completion_percent,
            item.engagement.score,
        )
        if explain:
            row = (
                *row,
                thresholds.min_time_seconds,
                thresholds.max_days_since_access,
                thresholds.min_completion_percent,
                thresholds.min_engagement,
                thresholds.at_risk_score,
                learner.active_days,
                learner.interactions,
                *_explained(analysis, item),
            )
        yield row
