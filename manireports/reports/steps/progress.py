"""course_progress: tracked learners with the course progress Moodle itself shows them.

The rules (who is tracked, which activities count on 4.x and on 5.x, what a completed course
reports) are written down in sql/course_progress.sql beside the query that applies them.
"""

from __future__ import annotations

from typing import Any

from manireports.reports.catalogue import CATALOGUE
from manireports.reports.spec import BuiltinReport, ReportContext
from manireports.reports.steps.company import refuse_company_filter_without_iomad


def _bind_course_progress(context: ReportContext) -> dict[str, Any]:
    refuse_company_filter_without_iomad(context)
    return {}


COURSE_PROGRESS = BuiltinReport.of(
    CATALOGUE["course_progress"],
    bind=_bind_course_progress,
    scope_columns={"userid": "ue.userid", "courseid": "c.id"},
)
