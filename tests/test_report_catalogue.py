"""The catalogue describes each built-in report exactly as its module defines it.

`reports list` and every name check read `reports.catalogue`, which loads no report; the reports
themselves are imported on first lookup (`reports.builtin`). The two must never disagree: what
`reports list` shows is what runs.
"""

from __future__ import annotations

import pytest

from manireports.reports.builtin import BUILTIN_REPORTS
from manireports.reports.catalogue import CATALOGUE, ReportInfo


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_the_catalogue_describes_the_report_its_module_defines(name: str) -> None:
    report = BUILTIN_REPORTS[name]
    described = ReportInfo(
        name=report.name,
        title=report.title,
        description=report.description,
        columns=report.columns,
        params=report.params,
        needs=report.needs,
    )
    assert described == CATALOGUE[name]


def test_the_built_in_reports_are_the_catalogue_in_its_order() -> None:
    assert list(BUILTIN_REPORTS) == list(CATALOGUE)
    assert len(BUILTIN_REPORTS) == len(CATALOGUE)
    assert [report.name for report in BUILTIN_REPORTS.values()] == list(CATALOGUE)


@pytest.mark.parametrize("name", ["", "nope", "COURSE_COMPLETION", "steps", 3])
def test_a_name_outside_the_catalogue_is_no_built_in_report(name: object) -> None:
    assert name not in BUILTIN_REPORTS
    assert BUILTIN_REPORTS.get(name) is None  # type: ignore[call-overload]
    with pytest.raises(KeyError):
        BUILTIN_REPORTS[name]  # type: ignore[index]
