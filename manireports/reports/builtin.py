"""The built-in reports by name, each loaded when it is first looked up.

What the reports are (names, descriptions, parameters, columns) is in `reports.catalogue`; how
each is computed is in its module of `reports.steps`, imported only when the report is asked for.
Listing the reports, checking a name or running a custom report therefore loads none of them:
the SCORM grading, the analytics and the time tracking cost a command that does not run them a
few tenths of a second (see "Start-up" in docs/operations.md). Each report's SQL is one readable
file in sql/ with Moodle's `{table}` and `:param` conventions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING

from manireports.reports.catalogue import CATALOGUE

if TYPE_CHECKING:
    from manireports.reports.spec import BuiltinReport

# The module of reports.steps that defines each report, as the constant named like the report in
# capitals (time_spent is TIME_SPENT); a test checks every entry against the catalogue.
_MODULES: Mapping[str, str] = {
    "course_completion": "completion",
    "course_progress": "progress",
    "scorm_summary": "scorm",
    "quiz_attempts": "quiz",
    "enrolment_trends": "trends",
    "completion_trends": "trends",
    "company_overview": "company",
    "time_spent": "timespent",
    "user_engagement": "analytics",
    "at_risk": "analytics",
}


class BuiltinCatalogue(Mapping[str, "BuiltinReport"]):
    """The built-in reports by name: the names are the catalogue's, each report is imported
    from its module on lookup (the module system keeps it loaded after that)."""

    def __getitem__(self, name: str) -> BuiltinReport:
        if name not in CATALOGUE:
            raise KeyError(name)
        module = import_module(f"manireports.reports.steps.{_MODULES[name]}")
        report: BuiltinReport = getattr(module, name.upper())
        return report

    def __contains__(self, name: object) -> bool:
        return name in CATALOGUE

    def __iter__(self) -> Iterator[str]:
        return iter(CATALOGUE)

    def __len__(self) -> int:
        return len(CATALOGUE)


BUILTIN_REPORTS = BuiltinCatalogue()
