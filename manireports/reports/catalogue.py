"""What each built-in report is: its name, title, description, parameters and columns.

This is the catalogue as an operator reads it (`reports list`, the README's report table), kept
apart from how the reports are computed (`reports.steps`) so that it costs nothing to import:
listing the reports, or running a custom one, must not load the SCORM grading, the analytics or
the time tracking (see "Start-up" in docs/operations.md). Each report's module builds its
`BuiltinReport` from its entry here (`BuiltinReport.of`), and `reports.builtin` loads that module
when the report is first looked up.

Column names and order are part of the product contract; scripts read them. They are defined
here for every built-in report, those computed by `manireports.analytics` and
`manireports.timetrack` included: that code takes its columns from this catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from manireports.export.model import Column
from manireports.reports.params import Param

# Bounds used when a period parameter is not given: every Moodle timestamp lies between them.
EARLIEST = 0
LATEST = 2**31 - 1


@dataclass(frozen=True)
class ReportInfo:
    """A built-in report as the catalogue describes it, without its SQL or Python steps.

    `needs` names the site features (such as "iomad") it requires.
    """

    name: str
    title: str
    description: str
    columns: tuple[Column, ...]
    params: tuple[Param, ...] = ()
    needs: frozenset[str] = field(default_factory=frozenset)


COURSE_PARAM = Param("courseid", "int", "only this course (course id)")
COMPANY_PARAM = Param("companyid", "int", "only users of this IOMAD company (company id)")
_TREND_COLUMNS = (Column("month", "text"), Column("count", "int"))
_TREND_PARAMS = (COURSE_PARAM, COMPANY_PARAM)
_ANALYTICS_PARAMS = (
    COURSE_PARAM,
    Param("explain", "text", "true adds each input, its reference, normalised value and weight"),
)

CATALOGUE: Mapping[str, ReportInfo] = {
    info.name: info
    for info in (
        ReportInfo(
            name="course_completion",
            title="Course completion",
            description="Learners tracked by course completion, with enrolment and completion.",
            columns=(
                Column("userid", "int"),
                Column("username", "text"),
                Column("fullname", "text"),
                Column("email", "text"),
                Column("courseid", "int"),
                Column("course_shortname", "text"),
                Column("course_fullname", "text"),
                Column("enrolled", "timestamp"),
                Column("completed", "bool"),
                Column("timecompleted", "timestamp"),
                Column("company", "text"),
            ),
            params=(
                COURSE_PARAM,
                COMPANY_PARAM,
                Param("from", "date", "enrolled or completed on or after this date", EARLIEST),
                Param(
                    "to", "date", "enrolled or completed up to this date", LATEST, end_of_day=True
                ),
            ),
        ),
        ReportInfo(
            name="course_progress",
            title="Course progress",
            description=(
                "Learners tracked by course completion, with activities completed and the course "
                "progress Moodle shows them."
            ),
            columns=(
                Column("userid", "int"),
                Column("username", "text"),
                Column("fullname", "text"),
                Column("courseid", "int"),
                Column("course_shortname", "text"),
                Column("activities_total", "int"),
                Column("activities_completed", "int"),
                Column("progress_percent", "float"),
                Column("lastaccess", "timestamp"),
                Column("course_completed", "bool"),
            ),
            params=(COURSE_PARAM, COMPANY_PARAM),
        ),
        ReportInfo(
            name="scorm_summary",
            title="SCORM summary",
            description=(
                "Per learner and SCORM activity: attempts, completion, total time, the score "
                "Moodle grades and the last access; on both SCORM table layouts."
            ),
            columns=(
                Column("scormid", "int"),
                Column("scorm_name", "text"),
                Column("courseid", "int"),
                Column("userid", "int"),
                Column("username", "text"),
                Column("attempts", "int"),
                Column("completed", "bool"),
                Column("totaltime", "int"),
                Column("score", "float"),
                Column("lastaccess", "timestamp"),
            ),
            params=(
                COURSE_PARAM,
                Param("scormid", "int", "only this SCORM activity (scorm id)"),
                COMPANY_PARAM,
            ),
        ),
        ReportInfo(
            name="quiz_attempts",
            title="Quiz attempts",
            description=(
                "Per learner and quiz: attempts in every state, the best grade as the gradebook "
                "shows it, and the state, finish time and duration of the last attempt."
            ),
            columns=(
                Column("quizid", "int"),
                Column("quiz_name", "text"),
                Column("courseid", "int"),
                Column("userid", "int"),
                Column("username", "text"),
                Column("attempts", "int"),
                Column("best_grade", "float"),
                Column("last_attempt_state", "text"),
                Column("last_attempt_finished", "timestamp"),
                Column("time_taken_seconds", "int"),
                Column("max_grade", "float"),
                Column("enrolled", "bool"),
            ),
            params=(
                Param("courseid", "int", "only quizzes of this course (course id)"),
                Param("quizid", "int", "only this quiz (quiz id)"),
                COMPANY_PARAM,
            ),
        ),
        ReportInfo(
            name="enrolment_trends",
            title="Enrolment trends",
            description="Enrolments made in each of the last 12 months (site timezone).",
            columns=_TREND_COLUMNS,
            params=_TREND_PARAMS,
        ),
        ReportInfo(
            name="completion_trends",
            title="Completion trends",
            description="Course completions in each of the last 12 months (site timezone).",
            columns=_TREND_COLUMNS,
            params=_TREND_PARAMS,
        ),
        ReportInfo(
            name="company_overview",
            title="Company overview",
            description=(
                "Per IOMAD company: its users, their active enrolments, how many are completed "
                "and the completion rate."
            ),
            columns=(
                Column("companyid", "int"),
                Column("company", "text"),
                Column("users", "int"),
                Column("enrolments", "int"),
                Column("completions", "int"),
                Column("completion_rate", "float"),
            ),
            params=(Param("companyid", "int", "only this IOMAD company (company id)"),),
            needs=frozenset({"iomad"}),
        ),
        ReportInfo(
            name="time_spent",
            title="Time spent",
            description=(
                "Time per user, course and day (or month) in the site timezone, from time tracking."
            ),
            columns=(
                Column("userid", "int", "User id"),
                Column("username", "text", "Username"),
                Column("courseid", "int", "Course id"),
                Column("date", "date", "Date"),
                Column("duration_seconds", "int", "Time spent (s)"),
                Column("sessions", "int", "Sessions"),
            ),
            params=(
                Param("userid", "int", "only this user (user id)"),
                Param(
                    "courseid", "int", "only this course (course id; 0 is time on the site itself)"
                ),
                Param("from", "day", "from this day (YYYY-MM-DD, site timezone)"),
                Param("to", "day", "up to and including this day"),
                Param(
                    "per",
                    "text",
                    "day (the default) or month: a row per user, course and month, dated its "
                    "first day, summing the month's days inside from/to",
                ),
            ),
        ),
        ReportInfo(
            name="user_engagement",
            title="User engagement",
            description=(
                "Engagement score 0-100 per tracked learner and course over "
                "[analytics.engagement] window_days: time spent, active days, completion and "
                "interactions."
            ),
            # Without --explain; manireports.analytics adds its columns.
            columns=(
                Column("userid", "int", "User id"),
                Column("username", "text", "Username"),
                Column("courseid", "int", "Course id"),
                Column("time_spent_seconds", "int", "Time spent (s)"),
                Column("active_days", "int", "Active days"),
                Column("completion_percent", "float", "Completion %"),
                Column("interactions", "int", "Interactions"),
                Column("engagement_score", "float", "Engagement score"),
            ),
            params=_ANALYTICS_PARAMS,
        ),
        ReportInfo(
            name="at_risk",
            title="Learners at risk",
            description=(
                "Risk score per tracked learner and course from four rules (low time, no recent "
                "access, low completion, low engagement), one column each."
            ),
            # Without --explain; manireports.analytics adds its columns.
            columns=(
                Column("userid", "int", "User id"),
                Column("username", "text", "Username"),
                Column("courseid", "int", "Course id"),
                Column("risk_score", "int", "Risk score"),
                Column("at_risk", "bool", "At risk"),
                Column("low_time", "bool", "Rule: low time"),
                Column("no_recent_access", "bool", "Rule: no recent access"),
                Column("low_completion", "bool", "Rule: low completion"),
                Column("low_engagement", "bool", "Rule: low engagement"),
                Column("time_spent_seconds", "int", "Time spent (s)"),
                Column("lastaccess", "timestamp", "Last access"),
                Column("days_since_access", "int", "Days since access"),
                Column("completion_percent", "float", "Completion %"),
                Column("engagement_score", "float", "Engagement score"),
            ),
            params=_ANALYTICS_PARAMS,
        ),
    )
}
