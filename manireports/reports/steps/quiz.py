"""quiz_attempts: per user and quiz, the attempts, the graded best grade and the last attempt.

Everything is in sql/quiz_attempts.sql, which states Moodle's rules (attempt states, previews,
grading methods, rescaling to the quiz's maximum grade, the sumgrades guard). Columns after the
fixed ones every quiz report has: `max_grade` (quiz.grade, what best_grade is out of) and `enrolled`
(1 when the user has an active enrolment in the quiz's course at the moment of the run).
"""

from __future__ import annotations

from typing import Any

from manireports.reports.catalogue import CATALOGUE
from manireports.reports.spec import BuiltinReport, ReportContext
from manireports.reports.steps.company import refuse_company_filter_without_iomad


def _bind_quiz_attempts(context: ReportContext) -> dict[str, Any]:
    refuse_company_filter_without_iomad(context)
    return {}


QUIZ_ATTEMPTS = BuiltinReport.of(
    CATALOGUE["quiz_attempts"],
    bind=_bind_quiz_attempts,
    scope_columns={"userid": "la.userid", "courseid": "q.course"},
)
