"""course_progress: tracked learners with the course progress Moodle itself shows them.

The rules (who is tracked, which activities count on 4.x and on 5.x, what a completed course
reports) are written down in sql/course_progress.sql beside the query that applies them.
"""

from __future__ import annotations

from typing import Any

from manireports.export import Column
from manireports.reports.params import Param
from manireports.reports.spec import BuiltinReport, ReportContext
from manireports.reports.steps.company import COMPANY_PARAM, refuse_company_filter_without_iomad


def _bind_course_progress(context: ReportContext) -> dict[str, Any]:
    refuse_company_filter_without_iomad(context)
    return {}


COURSE_PROGRESS = BuiltinReport(
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
    params=(
        Param("courseid", "int", "only this course (course id)"),
        COMPANY_PARAM,
    ),
    bind=_bind_course_progress,
    scope_columns={"userid": "ue.userid", "courseid": "c.id"},
)
