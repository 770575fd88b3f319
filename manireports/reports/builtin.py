"""The catalogue of built-in reports.

Column names and order are part of the product contract; scripts read them. Each report's SQL is
one readable file in sql/ with Moodle's `{table}` and `:param` conventions.
"""

from __future__ import annotations

from typing import Any

from manireports.export import Column
from manireports.reports.params import Param
from manireports.reports.spec import EARLIEST, LATEST, BuiltinReport, ReportContext
from manireports.reports.steps.analytics import AT_RISK, USER_ENGAGEMENT
from manireports.reports.steps.company import COMPANY_OVERVIEW, refuse_company_filter_without_iomad
from manireports.reports.steps.progress import COURSE_PROGRESS
from manireports.reports.steps.quiz import QUIZ_ATTEMPTS
from manireports.reports.steps.scorm import SCORM_SUMMARY
from manireports.reports.steps.timespent import TIME_SPENT
from manireports.reports.steps.trends import COMPLETION_TRENDS, ENROLMENT_TRENDS


def _bind_course_completion(context: ReportContext) -> dict[str, Any]:
    refuse_company_filter_without_iomad(context)
    return {}


_COURSE = Param("courseid", "int", "only this course (course id)")
_COMPANY = Param("companyid", "int", "only users of this IOMAD company (company id)")

BUILTIN_REPORTS: dict[str, BuiltinReport] = {
    report.name: report
    for report in (
        BuiltinReport(
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
                _COURSE,
                _COMPANY,
                Param("from", "date", "enrolled or completed on or after this date", EARLIEST),
                Param(
                    "to", "date", "enrolled or completed up to this date", LATEST, end_of_day=True
                ),
            ),
            bind=_bind_course_completion,
            scope_columns={"userid": "ue.userid", "courseid": "c.id"},
        ),
        COURSE_PROGRESS,
        SCORM_SUMMARY,
        QUIZ_ATTEMPTS,
        ENROLMENT_TRENDS,
        COMPLETION_TRENDS,
        COMPANY_OVERVIEW,
        TIME_SPENT,
        USER_ENGAGEMENT,
        AT_RISK,
    )
}
