"""The rows of the user_engagement and at_risk reports, and the columns --explain adds.

Both reports score every visible learner the same way; at_risk adds the four rules, one boolean
column each, so a manager reading the sheet sees why a learner is flagged without --explain.
--explain adds columns rather than a block of text so that CSV, JSON and XLSX carry it too.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from manireports.analytics.inputs import Gathered, Learner, gather
from manireports.analytics.scoring import (
    NOTHING_APPLIED,
    Scale,
    Weights,
    course_references,
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
class Analysis:
    """The visible learners, by course then user, and the scale of each course."""

    learners: list[Learner]
    scales: dict[int, Scale]
    gathered: Gathered
    now: int
    engagement: EngagementSettings
    risk: RiskSettings


def analyse(app: App, *, now: int, courseid: int | None, scope: Scope, what: str) -> Analysis:
    """Gather the learners and their courses' scales. The settings are checked before any
    database is read; each learner is scored as their row is made."""
    settings = EngagementSettings.from_config(app.config)
    thresholds = RiskSettings.from_config(app.config)
    gathered = gather(
        app, now=now, window_days=settings.window_days, courseid=courseid, scope=scope, what=what
    )
    weights = Weights.of(settings)
    # The learners come ordered by course: each group is one course's learners, all of them.
    scales = {
        course: Scale(course_references(list(learners), settings.window_days), weights)
        for course, learners in itertools.groupby(
            gathered.learners, key=operator.attrgetter("courseid")
        )
    }
    visible = [learner for learner in gathered.learners if learner.visible]
    return Analysis(visible, scales, gathered, now, settings, thresholds)


def _explained(analysis: Analysis, scale: Scale, learner: Learner) -> Row:
    window = analysis.gathered.window
    normalised = scale.normalised(learner)
    weights = scale.applied(normalised) or NOTHING_APPLIED
    values: list[Any] = [window.first_day, window.last_day, analysis.gathered.time_source]
    for name, value, weight in zip(INPUTS, normalised, weights, strict=True):
        if name != "completion":
            values.append(round(scale.references[name], 2))
        values.append(None if value is None else round(value, 4))
        values.append(round(weight, 4))
    return tuple(values)


def engagement_rows(analysis: Analysis, *, explain: bool) -> Iterator[Row]:
    scales = analysis.scales
    for learner in analysis.learners:
        scale = scales[learner.courseid]
        row: Row = (
            learner.userid,
            learner.username,
            learner.courseid,
            learner.time_seconds,
            learner.active_days,
            learner.completion_percent,
            learner.interactions,
            scale.score(learner),
        )
        yield (*row, *_explained(analysis, scale, learner)) if explain else row


def at_risk_rows(analysis: Analysis, *, explain: bool) -> Iterator[Row]:
    thresholds, scales, now = analysis.risk, analysis.scales, analysis.now
    for learner in analysis.learners:
        scale = scales[learner.courseid]
        score = scale.score(learner)
        flags = risk(
            learner, score, learner.lastaccess, now, thresholds, completed=learner.completed
        )
        row: Row = (
            learner.userid,
            learner.username,
            learner.courseid,
            flags.score,
            flags.at_risk,
            *flags.fired,
            learner.time_seconds,
            learner.lastaccess,
            flags.days_since_access,
            learner.completion_percent,
            score,
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
                *_explained(analysis, scale, learner),
            )
        yield row
