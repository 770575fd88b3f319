"""analytics engagement|at-risk: the user_engagement and at_risk reports as their own commands.

Both run through run-report (imported from the reports group, which imports nothing back), so
their runs are recorded, cached and exported alike.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from manireports.cli.environment import env_of
from manireports.cli.options import AsUserOption, CompanyOption, FormatOption, OutputOption

analytics_app = typer.Typer(
    help="Engagement scores and learners at risk (see docs/analytics.md).", no_args_is_help=True
)
CourseOption = Annotated[int | None, typer.Option("--course", help="Only this course (id).")]
ExplainOption = Annotated[
    bool,
    typer.Option(
        "--explain",
        help="Add each input, its course reference, normalised value and weight, and each "
        "rule's threshold (on a terminal: one block per learner).",
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help='Answer as of "YYYY-MM-DD HH:MM[:SS]" in the site timezone.'),
]


def _analytics(
    ctx: typer.Context, report: str, course: int | None, explain: bool, **run: Any
) -> None:
    """Both commands are their report run through run-report, so runs are recorded alike.

    --explain adds some twenty columns; on a terminal they are shown as one block per learner
    (the `records` format) instead of a table too wide to read.
    """
    param = ([f"courseid={course}"] if course is not None else []) + [f"explain={explain}"]
    if explain and run["fmt"] is None and run["output"] is None:
        run["fmt"] = "records" if env_of(ctx).stdout_is_terminal else None
    from manireports.cli.reports import run_report_command

    run_report_command(ctx, report, param=param, limit=None, bom=False, show_sql=False, **run)


@analytics_app.command("engagement")
def analytics_engagement(
    ctx: typer.Context,
    course: CourseOption = None,
    explain: ExplainOption = False,
    as_user: AsUserOption = None,
    company: CompanyOption = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Engagement score 0-100 per learner and course over the window (the user_engagement report).

    Example: manireports analytics engagement --course 3 --explain -o engagement.csv
    """
    _analytics(
        ctx, "user_engagement", course, explain,
        as_user=as_user, company=company, as_of=as_of, fmt=fmt, output=output,
    )  # fmt: skip


@analytics_app.command("at-risk")
def analytics_at_risk(
    ctx: typer.Context,
    course: CourseOption = None,
    explain: ExplainOption = False,
    as_user: AsUserOption = None,
    company: CompanyOption = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Learners at risk: four rules of 25 points each, one column per rule (the at_risk report).

    Example: manireports analytics at-risk --course 3 --as-user jack.fitzgerald
    """
    _analytics(
        ctx, "at_risk", course, explain,
        as_user=as_user, company=company, as_of=as_of, fmt=fmt, output=output,
    )  # fmt: skip
