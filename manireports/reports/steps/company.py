"""IOMAD reports: the company overview, and the guard shared by every report with a company filter.

Which users, enrolments and completions a company counts is written down in
sql/company_overview.sql, where the rules sit beside the query that applies them.
"""

from __future__ import annotations

from manireports.errors import InputError
from manireports.export import Column
from manireports.reports.params import Param
from manireports.reports.spec import BuiltinReport, ReportContext

COMPANY_PARAM = Param("companyid", "int", "only users of this IOMAD company (company id)")


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


COMPANY_OVERVIEW = BuiltinReport(
    name="company_overview",
    title="Company overview",
    description=(
        "Per IOMAD company: its users, their active enrolments, how many are completed and the "
        "completion rate."
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
    scope_columns={"companyid": "co.id"},
)
