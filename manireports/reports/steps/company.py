"""IOMAD reports: the company overview, and the guard shared by every report with a company filter.

Which users, enrolments and completions a company counts is written down in
sql/company_overview.sql, where the rules sit beside the query that applies them.
"""

from __future__ import annotations

from manireports.errors import InputError
from manireports.reports.catalogue import CATALOGUE
from manireports.reports.spec import BuiltinReport, ReportContext


def refuse_company_filter_without_iomad(context: ReportContext) -> None:
    """A company filter on a Moodle without IOMAD would be dropped silently; say so instead.

    The `-- if iomad :companyid` lines of a report vanish on plain Moodle, so without this check
    `--param companyid=3` would answer for the whole site as if it had been honoured.
    """
    if "companyid" in context.params and not context.site.iomad:
        raise InputError(
            "The parameter companyid needs an IOMAD site, and this Moodle has no IOMAD company "
            "tables; run the report without it."
        )


COMPANY_OVERVIEW = BuiltinReport.of(
    CATALOGUE["company_overview"],
    scope_columns={"companyid": "co.id"},
)
