"""The `user_engagement` and `at_risk` built-in reports.

They combine Moodle with manireports' own daily time totals and compare each learner with their
course, so they are produced in Python (see `manireports.analytics`). The learners are gathered
and their courses' references worked out eagerly, before the export starts, so a bad [analytics]
setting is refused before any output (the references need every learner of a course at once
anyway); each learner is then scored as their row is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from manireports.analytics import (
    AT_RISK_COLUMNS,
    AT_RISK_EXPLAIN_COLUMNS,
    ENGAGEMENT_COLUMNS,
    ENGAGEMENT_EXPLAIN_COLUMNS,
    Analysis,
    analyse,
    at_risk_rows,
    engagement_rows,
)
from manireports.app import App
from manireports.errors import InputError
from manireports.export import Column
from manireports.reports.catalogue import CATALOGUE
from manireports.reports.spec import BuiltinReport, ReportContext, Row
from manireports.scope import Scope

_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0", "")


def _bind_explain(context: ReportContext) -> dict[str, Any]:
    text = str(context.params.get("explain", "")).strip().lower()
    if text not in _TRUE + _FALSE:
        raise InputError(f"The parameter explain must be true or false, not {text!r}.")
    return {"explain": text in _TRUE}


def _analysis(app: App, context: ReportContext, scope: Scope, report: str) -> Analysis:
    return analyse(
        app,
        now=context.now,
        courseid=context.params.get("courseid"),
        scope=scope,
        what=f"The report {report}",
    )


def _produce_engagement(app: App, context: ReportContext, scope: Scope) -> Iterator[Row]:
    analysis = _analysis(app, context, scope, "user_engagement")
    return engagement_rows(analysis, explain=context.params["explain"])


def _produce_at_risk(app: App, context: ReportContext, scope: Scope) -> Iterator[Row]:
    analysis = _analysis(app, context, scope, "at_risk")
    return at_risk_rows(analysis, explain=context.params["explain"])


def _columns(
    plain: tuple[Column, ...], explained: tuple[Column, ...]
) -> Callable[[ReportContext], tuple[Column, ...]]:
    def choose(context: ReportContext) -> tuple[Column, ...]:
        return explained if context.params["explain"] else plain

    return choose


USER_ENGAGEMENT = BuiltinReport.of(
    CATALOGUE["user_engagement"],
    columns=ENGAGEMENT_COLUMNS,
    bind=_bind_explain,
    produce=_produce_engagement,
    columns_for=_columns(ENGAGEMENT_COLUMNS, ENGAGEMENT_EXPLAIN_COLUMNS),
)

AT_RISK = BuiltinReport.of(
    CATALOGUE["at_risk"],
    columns=AT_RISK_COLUMNS,
    bind=_bind_explain,
    produce=_produce_at_risk,
    columns_for=_columns(AT_RISK_COLUMNS, AT_RISK_EXPLAIN_COLUMNS),
)
