"""quiz_attempts: per user and quiz, the attempts, the graded best grade and the last attempt.

Everything is in sql/quiz_attempts.sql, which states Moodle's rules (attempt states, previews,
grading methods, rescaling to the quiz's maximum grade, the sumgrades guard). Columns after the
fixed ones every quiz report has: `max_grade` (quiz.grade, what best_grade is out of) and `enrolled`
(1 when the user has an active enrolment in the quiz's course at the moment of the run).
"""

from __future__ import annotations

from typing import Any

from manireports.export import Column
from manireports.reports.params import Param
from manireports.reports.spec import BuiltinReport, ReportContext
from manireports.reports.steps.company import COMPANY_PARAM, refuse_company_filter_without_iomad


def _bind_quiz_attempts(context: ReportContext) -> dict[str, Any]:
    refuse_company_filter_without_iomad(context)
    return {}


QUIZ_ATTEMPTS = BuiltinReport(
    name="quiz_attempts",
    title="Quiz attempts",
    description=(
        "Per learner and quiz: attempts in every state, the best grade as the gradebook shows "
        "it, and the state, finish time and duration of the last attempt."
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
    bind=_bind_quiz_attempts,
    scope_columns={"userid": "la.userid", "courseid": "q.course"},
)
