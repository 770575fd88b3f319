"""course_completion: tracked learners with their enrolment and course completion.

Who counts as tracked and what completion means are written down in sql/course_completion.sql;
the only step in Python is the guard on the company filter.
"""

from __future__ import annotations

from typing import Any

from manireports.reports.catalogue import CATALOGUE
from manireports.reports.spec import BuiltinReport, ReportContext
from manireports.reports.steps.company import refuse_company_filter_without_iomad


def _bind_course_completion(context: ReportContext) -> dict[str, Any]:
    refuse_company_filter_without_iomad(context)
    return {}


COURSE_COMPLETION = BuiltinReport.of(
    CATALOGUE["course_completion"],
    bind=_bind_course_completion,
    scope_columns={"userid": "ue.userid", "courseid": "c.id"},
)
