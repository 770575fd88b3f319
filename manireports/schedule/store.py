"""Schedules and their recipients in the state database, each change audited with it.

A schedule names its report by id when it is a custom report (a rename does not break it, and the
report cannot be deleted while scheduled) and by name when it is built in. Recipients are Moodle
users, kept by id so a changed address is picked up at send time, or plain addresses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from manireports.app import App
from manireports.errors import InputError, PermissionDeniedError
from manireports.reports.params import bind_params, parse_moment
from manireports.reports.run import OPERATOR, ReportRequest, find_report, prepare_report
from manireports.schedule.recurrence import Recurrence, describe, next_fire
from manireports.state import record_audit, transaction
from manireports.state.store import StateDB, now_seconds
from manireports.state.tables import schedule_recipients, schedules

Scope = Literal["recipient", "owner"]
# Files worth mailing; `table` is the terminal's format.
SCHEDULE_FORMATS = ("csv", "tsv", "json", "jsonl", "xlsx", "pdf", "html")
_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


@dataclass(frozen=True)
class Recipient:
    """A Moodle user (`userid`) or a plain address (`email`)."""

    userid: int | None = None
    email: str | None = None

    def label(self) -> str:
        return self.email if self.email else f"user {self.userid}"


@dataclass(frozen=True)
class Schedule:
    id: int
    name: str
    report: str
    reportid: int | None
    rule: Recurrence
    format: str
    params: dict[str, str]
    next_run: int
    active: bool
    scope: Scope
    ownerid: int | None
    skip_empty: bool
    attempt: int
    retry_at: int | None
    last_run: int | None
    recipients: tuple[Recipient, ...] = field(default=())

    @property
    def report_ref(self) -> str:
        """What find_report resolves: the custom report's id, or the built-in report's name."""
        return str(self.reportid) if self.reportid is not None else self.report

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "report": self.report,
            "reportid": self.reportid,
            "recurrence": describe(self.rule),
            "format": self.format,
            "params": self.params,
            "scope": self.scope,
            "owner": self.ownerid,
            "skip_empty": self.skip_empty,
            "recipients": [r.label() for r in self.recipients],
        }


def _schedule(row: sa.RowMapping, recipients: Sequence[Recipient]) -> Schedule:
    rule = Recurrence(
        frequency=row["frequency"],
        at=row["at_time"] or "",
        weekday=row["weekday"],
        monthday=row["monthday"],
        cron=row["cron_expr"],
    )
    return Schedule(
        id=int(row["id"]),
        name=row["name"],
        report=row["report"],
        reportid=row["reportid"],
        rule=rule,
        format=row["format"],
        params=json.loads(row["paramsjson"] or "{}"),
        next_run=int(row["next_run"]),
        active=bool(row["active"]),
        scope=row["scope"],
        ownerid=row["ownerid"],
        skip_empty=bool(row["skip_empty"]),
        attempt=int(row["attempt"]),
        retry_at=row["retry_at"],
        last_run=row["last_run"],
        recipients=tuple(recipients),
    )


def _recipients(connection: sa.Connection, ids: Sequence[int]) -> dict[int, list[Recipient]]:
    found: dict[int, list[Recipient]] = {i: [] for i in ids}
    if not ids:
        return found
    query = (
        sa.select(schedule_recipients)
        .where(schedule_recipients.c.scheduleid.in_(ids))
        .order_by(schedule_recipients.c.id)
    )
    for row in connection.execute(query).mappings():
        found[int(row["scheduleid"])].append(Recipient(row["userid"], row["email"]))
    return found


def list_schedules(state: StateDB | sa.Connection) -> list[Schedule]:
    with transaction(state) as connection:
        rows = connection.execute(sa.select(schedules).order_by(schedules.c.id)).mappings().all()
        recipients = _recipients(connection, [int(row["id"]) for row in rows])
    return [_schedule(row, recipients[int(row["id"])]) for row in rows]


def get_schedule(state: StateDB | sa.Connection, scheduleid: int) -> Schedule:
    """One schedule with its recipients; a missing one is an InputError naming it."""
    with transaction(state) as connection:
        query = sa.select(schedules).where(schedules.c.id == scheduleid)
        row = connection.execute(query).mappings().one_or_none()
        if row is None:
            raise InputError(
                f"There is no schedule {scheduleid}; `manireports schedule list` shows them."
            )
        return _schedule(row, _recipients(connection, [scheduleid])[scheduleid])


def _moodle_user(app: App, who: str, option: str) -> int:
    """A Moodle user id from an id or a username, refused when the user is gone."""
    column = "id" if who.isdigit() else "username"
    rows = app.moodle.fetch_all(
        f"SELECT id, deleted FROM {app.moodle.table('user')} WHERE {column} = :who",
        {"who": int(who) if who.isdigit() else who},
    )
    if not rows:
        raise InputError(f"There is no Moodle user {who!r} for {option}.")
    if rows[0][1]:
        raise InputError(f"The Moodle user {who!r} given to {option} is deleted.")
    return int(rows[0][0])


def parse_recipient(app: App, text: str) -> Recipient:
    """An address when it has an @, else a Moodle user id or username."""
    text = text.strip()
    if "@" in text:
        if not _ADDRESS.match(text):
            raise InputError(f"--recipient {text!r} is not an email address.")
        return Recipient(email=text)
    return Recipient(userid=_moodle_user(app, text, "--recipient"))


@dataclass(frozen=True)
class NewSchedule:
    """What `schedule add` asks for, before anything is looked up."""

    report: str
    name: str
    rule: Recurrence
    format: str
    recipients: Sequence[str]
    params: Mapping[str, str] = field(default_factory=dict)
    scope: str = "recipient"
    owner: str | None = None
    start: str | None = None
    skip_empty: bool = False


def add_schedule(app: App, new: NewSchedule) -> int:
    """Check a new schedule against the report, the site and Moodle's users, store it, audit it.

    Parameters are bound once now, so a typo fails here and not at two in the morning.
    """
    report = find_report(app, new.report)
    if new.format not in SCHEDULE_FORMATS:
        raise InputError(
            f"--format must be one of {', '.join(SCHEDULE_FORMATS)} for a schedule, "
            f"not {new.format!r}."
        )
    if new.scope not in ("recipient", "owner"):
        raise InputError(f"--scope must be recipient or owner, not {new.scope!r}.")
    if not new.name.strip():
        raise InputError("--name must not be empty.")
    if not new.recipients:
        raise InputError("A schedule needs at least one --recipient.")
    tz = app.timezone
    bind_params(report.params, new.params, tz, report.name)
    recipients = list(dict.fromkeys(parse_recipient(app, text) for text in new.recipients))
    ownerid = None if new.owner is None else _moodle_user(app, new.owner, "--owner")
    _refuse_blind_viewers(app, new, recipients, ownerid)
    now = app.now()
    next_run = first_run(new.rule, now, tz, new.start)
    row = {
        "reportid": report.custom_id,
        "report": report.name,
        "name": new.name.strip(),
        "frequency": new.rule.frequency,
        "cron_expr": new.rule.cron,
        "at_time": new.rule.at or None,
        "weekday": new.rule.weekday,
        "monthday": new.rule.monthday,
        "format": new.format,
        "paramsjson": json.dumps(dict(new.params), sort_keys=True),
        "next_run": next_run,
        "active": 1,
        "scope": new.scope,
        "ownerid": ownerid,
        "createdby": OPERATOR,
        "skip_empty": int(new.skip_empty),
        "timecreated": now,
        "timemodified": now,
    }
    with app.state.begin() as connection:
        key = connection.execute(sa.insert(schedules).values(row)).inserted_primary_key
        assert key is not None
        scheduleid = int(key[0])
        connection.execute(
            sa.insert(schedule_recipients),
            [{"scheduleid": scheduleid, "userid": r.userid, "email": r.email} for r in recipients],
        )
        created = get_schedule(connection, scheduleid)
        record_audit(
            connection,
            userid=OPERATOR,
            action="schedule_created",
            objecttype="schedule",
            objectid=scheduleid,
            details={**created.summary(), "next_run": next_run},
            now=now,
        )
    return scheduleid


def first_run(rule: Recurrence, now: int, tz: ZoneInfo, start: str | None) -> int:
    """The first occurrence: the rule's first time at or after --start (else after now).

    A start between two of the rule's times waits for the next one, so a schedule never runs
    off its rule (a 04:00 start of a 06:00 rule first runs at 06:00, once, not at both).
    """
    if start is None:
        return next_fire(rule, now, tz)
    return next_fire(rule, parse_moment(start, tz, what="--start") - 1, tz)


def _refuse_blind_viewers(
    app: App, new: NewSchedule, recipients: Sequence[Recipient], ownerid: int | None
) -> None:
    """Refuse (exit 3) a schedule mailing the report to a Moodle user who may not see it.

    With `--scope recipient` each Moodle user gets their own view; the owner's view goes to plain
    addresses (and to everyone with `--scope owner`).
    """
    viewers: list[int] = []
    if new.scope == "recipient":
        viewers += [r.userid for r in recipients if r.userid is not None]
    owner_view = new.scope == "owner" or any(r.email is not None for r in recipients)
    if ownerid is not None and owner_view:
        viewers.append(ownerid)
    refused: list[str] = []
    for userid in dict.fromkeys(viewers):
        request = ReportRequest(new.report, params=dict(new.params), as_user=str(userid))
        try:
            prepare_report(app, request)
        except PermissionDeniedError as exc:
            refused.append(f"user {userid}: {exc}")
    if refused:
        raise PermissionDeniedError(
            f"Some recipients may not see the report {new.report}, so it cannot be scheduled "
            f"for them: {' '.join(refused)}"
        )


def set_active(app: App, scheduleid: int, *, active: bool) -> Schedule:
    """Pause or resume. A resumed schedule whose next run went by while paused starts afresh
    from now: the missed occurrences are not caught up, and a pending retry is dropped."""
    now = app.now()
    with app.state.begin() as connection:
        current = get_schedule(connection, scheduleid)
        if current.active == active:
            state = "active" if active else "paused"
            raise InputError(f"Schedule {scheduleid} ({current.name}) is already {state}.")
        values: dict[str, Any] = {"active": int(active), "timemodified": now}
        if active and not current.active and current.next_run <= now:
            values.update(
                next_run=next_fire(current.rule, now, app.timezone), attempt=0, retry_at=None
            )
        connection.execute(sa.update(schedules).where(schedules.c.id == scheduleid).values(values))
        record_audit(
            connection,
            userid=OPERATOR,
            action="schedule_resumed" if active else "schedule_paused",
            objecttype="schedule",
            objectid=scheduleid,
            details={"name": current.name, "next_run": values.get("next_run", current.next_run)},
            now=now,
        )
        return get_schedule(connection, scheduleid)


def delete_schedule(state: StateDB, scheduleid: int, *, now: int | None = None) -> Schedule:
    """Delete a schedule and its recipients; its runs stay in the history without the link."""
    with state.begin() as connection:
        current = get_schedule(connection, scheduleid)
        connection.execute(sa.delete(schedules).where(schedules.c.id == scheduleid))
        record_audit(
            connection,
            userid=OPERATOR,
            action="schedule_deleted",
            objecttype="schedule",
            objectid=scheduleid,
            details=current.summary(),
            now=now_seconds(now),
        )
    return current
