"""schedule add|list|show|pause|resume|delete|run: reports mailed on a schedule."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from manireports.cli.environment import env_of
from manireports.cli.options import FormatOption, OutputOption, ParamOption, PeriodOption
from manireports.cli.output import export_small, write_text
from manireports.cli.periods import period_schedule_params

if TYPE_CHECKING:
    from manireports.app import App


schedule_app = typer.Typer(help="Scheduled reports mailed to people.", no_args_is_help=True)
ScheduleId = Annotated[int, typer.Argument(help="Schedule id (see `schedule list`).")]


@schedule_app.command("add")
def schedule_add(
    ctx: typer.Context,
    report: Annotated[str, typer.Option("--report", help="Report name or custom report id.")],
    name: Annotated[str, typer.Option("--name", help="What the schedule is called.")],
    frequency: Annotated[str, typer.Option(help="daily, weekly, monthly or cron.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv, xlsx, pdf, ...")],
    recipient: Annotated[
        list[str], typer.Option(help="Moodle user id or username, or an email address; repeat.")
    ],
    cron: Annotated[
        str | None, typer.Option(help='With cron: "MIN HOUR DAY MONTH WEEKDAY".')
    ] = None,
    at: Annotated[str | None, typer.Option(help="HH:MM in the site timezone (06:00).")] = None,
    weekday: Annotated[str | None, typer.Option(help="With weekly: monday ... sunday.")] = None,
    day: Annotated[int | None, typer.Option(help="With monthly: 1-31 (31: last day).")] = None,
    start: Annotated[
        str | None, typer.Option(help='First run, "YYYY-MM-DD HH:MM" (site time).')
    ] = None,
    param: ParamOption = None,
    scope: Annotated[str, typer.Option(help="recipient (own view) or owner.")] = "recipient",
    owner: Annotated[
        str | None, typer.Option(help="Moodle user who owns it (default: the operator).")
    ] = None,
    skip_empty: Annotated[
        bool, typer.Option("--skip-empty", help="Mail nothing when the report has no rows.")
    ] = False,
    period: PeriodOption = None,
) -> None:
    """Schedule a report to be mailed; prints the new schedule's id.

    Example: manireports schedule add --report course_completion --name "Weekly completion"
    --frequency weekly --weekday monday --at 07:00 --format xlsx --recipient sian.taylor
    """
    from manireports.reports.params import parse_assignments
    from manireports.schedule.recurrence import make_recurrence
    from manireports.schedule.store import NewSchedule, add_schedule, get_schedule

    env = env_of(ctx)
    application = env.app()
    rule = make_recurrence(frequency, at=at, weekday=weekday, day=day, cron=cron)
    params = parse_assignments(param or [])
    if period is not None:
        params = period_schedule_params(application, report, period, params)
    new = NewSchedule(
        report=report,
        name=name,
        rule=rule,
        format=fmt,
        recipients=recipient,
        params=params,
        scope=scope,
        owner=owner,
        start=start,
        skip_empty=skip_empty,
    )
    scheduleid = add_schedule(application, new)
    first = get_schedule(application.state, scheduleid).next_run
    env.say(f"Created schedule {scheduleid}; first run {_site_time(application, first)}.")
    write_text(f"{scheduleid}\n")


def _site_time(application: App, moment: int | None) -> str:
    from datetime import datetime

    if moment is None:
        return ""
    return datetime.fromtimestamp(moment, application.timezone).strftime("%Y-%m-%d %H:%M %Z")


@schedule_app.command("list")
def schedule_list(
    ctx: typer.Context, fmt: FormatOption = None, output: OutputOption = None
) -> None:
    """List the schedules with their rule, next run and state.

    Example: manireports schedule list
    """
    from manireports.export import Column
    from manireports.schedule.recurrence import describe
    from manireports.schedule.store import list_schedules

    application = env_of(ctx).app()
    columns = [
        Column("id", "int"),
        Column("name", "text"),
        Column("report", "text"),
        Column("recurrence", "text"),
        Column("format", "text"),
        Column("recipients", "int"),
        Column("next_run", "timestamp"),
        Column("last_run", "timestamp"),
        Column("state", "text"),
    ]
    rows = [
        (
            s.id, s.name, s.report, describe(s.rule), s.format, len(s.recipients),
            s.retry_at or s.next_run, s.last_run,
            ("active" if s.active else "paused") + (f", retry {s.attempt}" if s.attempt else ""),
        )
        for s in list_schedules(application.state)
    ]  # fmt: skip
    export_small("Schedules", columns, rows, fmt, application.timezone, output=output, ctx=ctx)


@schedule_app.command("show")
def schedule_show(ctx: typer.Context, scheduleid: ScheduleId) -> None:
    """Show one schedule as JSON: report, rule, recipients, next run, retry state.

    Example: manireports schedule show 3
    """
    from manireports.schedule.store import get_schedule

    application = env_of(ctx).app()
    found = get_schedule(application.state, scheduleid)
    data = {
        **found.summary(),
        "active": found.active,
        "next_run": _site_time(application, found.next_run),
        "retry_at": _site_time(application, found.retry_at),
        "failed_attempts": found.attempt,
        "last_run": _site_time(application, found.last_run),
    }
    write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@schedule_app.command("pause")
def schedule_pause(ctx: typer.Context, scheduleid: ScheduleId) -> None:
    """Stop a schedule from running until it is resumed.

    Example: manireports schedule pause 3
    """
    from manireports.schedule.store import set_active

    env = env_of(ctx)
    set_active(env.app(), scheduleid, active=False)
    env.say(f"Paused schedule {scheduleid}.")


@schedule_app.command("resume")
def schedule_resume(ctx: typer.Context, scheduleid: ScheduleId) -> None:
    """Resume a paused schedule; runs missed while paused are not caught up.

    Example: manireports schedule resume 3
    """
    from manireports.schedule.store import set_active

    env = env_of(ctx)
    application = env.app()
    resumed = set_active(application, scheduleid, active=True)
    env.say(f"Resumed schedule {scheduleid}; next run {_site_time(application, resumed.next_run)}.")


@schedule_app.command("delete")
def schedule_delete(ctx: typer.Context, scheduleid: ScheduleId) -> None:
    """Delete a schedule; its past runs stay in the run history.

    Example: manireports schedule delete 3
    """
    from manireports.schedule.store import delete_schedule

    env = env_of(ctx)
    deleted = delete_schedule(env.app().state, scheduleid)
    env.say(f"Deleted schedule {scheduleid} ({deleted.name}).")


@schedule_app.command("run")
def schedule_run(ctx: typer.Context, scheduleid: ScheduleId) -> None:
    """Run one schedule now, for the period ending now, and mail it; exit 1 if a mail failed.

    Example: manireports schedule run 3
    """
    from manireports.schedule.due import run_now

    env = env_of(ctx)
    outcome = run_now(env.app(), scheduleid)
    env.say(
        f"Schedule {scheduleid}: {len(outcome.sent)} mail(s) sent, {len(outcome.skipped)} skipped."
    )
