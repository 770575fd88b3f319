"""Delivering one occurrence of a schedule: a file per view, a mail per recipient.

Recipients who see the same data share one file: each Moodle-user recipient gets their own view
(scope `recipient`), everyone else the owner's. Each recipient's delivery is a row of
manireports_deliveries keyed by the occurrence, written before the mail is sent and marked sent
right after the server accepted it, so a retry of the occurrence re-uses the files already made
and mails only those still pending.

Once the server has taken the sender and recipients, and just before DATA, the delivery is
marked `sending` with the mail's Message-ID; SIGTERM and Ctrl-C wait from there until the outcome
is recorded. Only a process that died outright (SIGKILL, a crash, a power cut) in that stretch
leaves a `sending` row: the server may or may not have taken the mail, SMTP offers no way to
ask, and the next attempt marks it `unconfirmed` instead of sending it again (at most once). The
audit log names it with its Message-ID, which the mail server's log can confirm.
"""

from __future__ import annotations

import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from manireports.app import App
from manireports.errors import ManiReportsError, PermissionDeniedError
from manireports.export import ExportOptions
from manireports.mail import compose, send
from manireports.reports.run import ReportRequest, find_report, run_report
from manireports.schedule.periods import Coverage, coverage
from manireports.schedule.recurrence import period
from manireports.schedule.store import Schedule
from manireports.schedule.templates import render_mail
from manireports.state.audit import redact_text
from manireports.state.runs import attach_schedule
from manireports.state.tables import deliveries, report_runs

# The owner's view; a Moodle user id is that user's view.
OWNER_VIEW = "owner"


class ClaimLostError(ManiReportsError):
    """Another process took this schedule over after our claim expired; we stop mailing."""


@dataclass
class Outcome:
    """What one attempt at an occurrence achieved."""

    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)
    # "address (Message-ID)" of mails a dead process may or may not have handed over.
    unconfirmed: list[str] = field(default_factory=list)
    # Recipients left out because they may no longer see the report: not an error, no retry.
    refused: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.errors and not self.pending


@dataclass(frozen=True)
class _Target:
    """One recipient resolved: the key deliveries are stored under, the address, the view."""

    userid: int | None
    address: str
    view: str


def period_text(start: int, end: int, tz: ZoneInfo) -> str:
    """The period as an operator reads it: days when it is whole days, else times."""
    first = datetime.fromtimestamp(start, tz)
    last = datetime.fromtimestamp(end, tz)
    if first.time() == time() and last.time() == time():
        last_day = datetime.fromtimestamp(end - 1, tz).date()
        if last_day == first.date():
            return first.date().isoformat()
        return f"{first.date().isoformat()} to {last_day.isoformat()}"
    return f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "report"


def _targets(app: App, schedule: Schedule) -> tuple[list[_Target], list[str]]:
    """Recipients with their address and view; deleted, suspended or address-less users are
    left out (and named), since Moodle itself would not mail them."""
    userids = [r.userid for r in schedule.recipients if r.userid is not None]
    users: dict[int, tuple[str, int, int]] = {}
    if userids:
        listed = ", ".join(str(int(u)) for u in userids)
        for userid, email, deleted, suspended in app.moodle.fetch_all(
            f"SELECT id, email, deleted, suspended FROM {app.moodle.table('user')} "
            f"WHERE id IN ({listed})"
        ):
            users[int(userid)] = (str(email or ""), int(deleted), int(suspended))
    owner_view = OWNER_VIEW if schedule.ownerid is None else str(schedule.ownerid)
    targets: list[_Target] = []
    left_out: list[str] = []
    for recipient in schedule.recipients:
        if recipient.email is not None:
            targets.append(_Target(None, recipient.email, owner_view))
            continue
        assert recipient.userid is not None
        email, deleted, suspended = users.get(recipient.userid, ("", 1, 0))
        if deleted or suspended or "@" not in email:
            left_out.append(recipient.label())
            continue
        view = str(recipient.userid) if schedule.scope == "recipient" else owner_view
        targets.append(_Target(recipient.userid, email, view))
    return targets, left_out


def _key(userid: int | None, address: str) -> str:
    return f"user {userid}" if userid is not None else address


def _existing(app: App, schedule: Schedule, occurrence: int) -> dict[str, dict[str, Any]]:
    """This occurrence's deliveries so far, by recipient, with their run's file and row count."""
    query = (
        sa.select(
            deliveries.c.id,
            deliveries.c.userid,
            deliveries.c.recipient,
            deliveries.c.status,
            deliveries.c.runid,
            deliveries.c.messageid,
            report_runs.c.outputpath,
            report_runs.c.rowcount,
        )
        .join(report_runs, report_runs.c.id == deliveries.c.runid)
        .where(report_runs.c.scheduleid == schedule.id, deliveries.c.occurrence == occurrence)
        .order_by(deliveries.c.id)
    )
    with app.state.begin() as connection:
        rows = connection.execute(query).mappings().all()
    return {_key(row["userid"], row["recipient"]): dict(row) for row in rows}


def deliver(
    app: App,
    schedule: Schedule,
    occurrence: int,
    keep_claim: Callable[[], None],
) -> Outcome:
    """One attempt at an occurrence; `keep_claim` raises ClaimLostError when the claim is gone."""
    tz = app.timezone
    start, end = period(schedule.rule, occurrence, tz)
    outcome = Outcome()
    targets, outcome.skipped = _targets(app, schedule)
    done = _existing(app, schedule, occurrence)
    views: dict[str, list[_Target]] = {}
    for target in targets:
        if _key(target.userid, target.address) not in done:
            views.setdefault(target.view, []).append(target)
    for view, members in views.items():
        keep_claim()
        try:
            _generate(app, schedule, occurrence, (start, end), view, members)
        except PermissionDeniedError as exc:
            names = ", ".join(member.address for member in members)
            outcome.refused.append(f"{names}: {exc}")
            outcome.skipped.extend(member.address for member in members)
        except ManiReportsError as exc:
            outcome.errors.append(f"the report for {_view_label(view)} failed: {exc}")
    done = _existing(app, schedule, occurrence)
    for row in done.values():
        outcome.runs.append(int(row["runid"]))
        address = str(row["recipient"])
        if row["status"] == "sent":
            outcome.sent.append(address)
        elif row["status"] in ("sending", "unconfirmed"):
            if row["status"] == "sending":
                _update(app, row["id"], status="unconfirmed")
            outcome.unconfirmed.append(f"{address} ({row['messageid']})")
        elif row["status"] == "skipped":
            outcome.skipped.append(address)
        elif row["status"] == "pending":
            keep_claim()
            error = _send(app, schedule, occurrence, (start, end), row)
            if error is None:
                outcome.sent.append(address)
            else:
                outcome.pending.append(address)
                outcome.errors.append(error)
    outcome.runs = sorted(set(outcome.runs))
    return outcome


def _view_label(view: str) -> str:
    return "the owner's view" if view == OWNER_VIEW else f"user {view}'s view"


def _generate(
    app: App,
    schedule: Schedule,
    occurrence: int,
    span: tuple[int, int],
    view: str,
    members: list[_Target],
) -> None:
    """Write the report as `view` sees it under [storage] dir and queue a mail per member."""
    tz = app.timezone
    stamp = datetime.fromtimestamp(occurrence, tz).strftime("%Y%m%d-%H%M%S")
    label = "all" if view == OWNER_VIEW else f"user{view}"
    folder = app.config.storage_dir() / "schedules" / str(schedule.id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{_slug(schedule.name)}-{stamp}-{label}.{schedule.format}"
    covers = schedule_coverage(app, schedule, occurrence, span)
    request = ReportRequest(
        report=schedule.report_ref,
        params={**schedule.params, **covers.params},
        as_of=covers.as_of,
        as_user=None if view == OWNER_VIEW else view,
        period=span,
    )
    options = ExportOptions(
        bom=schedule.format in ("csv", "tsv"),
        pdf_max_rows=app.settings.reports.pdf_max_rows,
        file_mode=app.config.file_mode(),
        formula_guard=app.settings.export.csv_formula_guard,
        pdf_fonts=app.settings.export.pdf_fonts,
    )
    result = run_report(app, request, fmt=schedule.format, destination=path, options=options)
    status = "skipped" if schedule.skip_empty and result.rows == 0 else "pending"
    with app.state.begin() as connection:
        attach_schedule(connection, result.runid, schedule.id)
        connection.execute(
            sa.insert(deliveries),
            [
                {
                    "runid": result.runid,
                    "recipient": member.address,
                    "userid": member.userid,
                    "status": status,
                    "occurrence": occurrence,
                }
                for member in members
            ],
        )


def schedule_coverage(
    app: App, schedule: Schedule, occurrence: int, span: tuple[int, int]
) -> Coverage:
    """What the run of this occurrence covers: the period, or the state as of the occurrence."""
    report = find_report(app, schedule.report_ref)
    shown = period_text(*span, app.timezone)
    return coverage(report, schedule.params, span, occurrence, shown, app.timezone)


def _send(
    app: App, schedule: Schedule, occurrence: int, span: tuple[int, int], row: dict[str, Any]
) -> str | None:
    """Mail one pending delivery; the error text when it stays pending."""
    config = app.config
    covers = schedule_coverage(app, schedule, occurrence, span)
    path = Path(row["outputpath"])
    limit = config.settings.email.max_attachment_mb * 1024 * 1024
    size = path.stat().st_size if path.exists() else 0
    attached = size <= limit
    values = {
        "schedule": schedule.name,
        "scheduleid": schedule.id,
        "report": schedule.report,
        "period": covers.period,
        "as_of": covers.as_of_text,
        "covers": covers.words,
        "period_start": span[0],
        "period_end": span[1],
        "rows": int(row["rowcount"] or 0),
        "host": socket.gethostname(),
        "filename": path.name,
        "path": str(path),
        "size_mb": round(size / 1024 / 1024, 1),
        "attached": attached,
        "recipient": row["recipient"],
    }
    try:
        subject, body = render_mail(config, "report", values)
        message = compose(
            config,
            to=[row["recipient"]],
            subject=subject,
            body=body,
            attachments=[path] if attached else [],
        )
        with ExitStack() as guard:

            def before_data() -> None:
                guard.enter_context(_stop_deferred())
                _update(app, row["id"], status="sending", messageid=message["Message-ID"])

            try:
                send(config, message, before_data=before_data)
            except (ManiReportsError, OSError):
                # No 250 came back: the server did not take the mail, a retry may.
                _update(app, row["id"], status="pending")
                raise
            _update(
                app,
                row["id"],
                status="sent",
                attempts=deliveries.c.attempts + 1,
                lasterror=None,
                timesent=app.now(),
            )
    except (ManiReportsError, OSError) as exc:
        error = redact_text(str(exc))
        _update(app, row["id"], attempts=deliveries.c.attempts + 1, lasterror=error)
        return f"mail to {row['recipient']}: {error}"
    return None


def _update(app: App, deliveryid: int, **values: Any) -> None:
    with app.state.begin() as connection:
        connection.execute(
            sa.update(deliveries).where(deliveries.c.id == deliveryid).values(**values)
        )


@contextmanager
def _stop_deferred() -> Iterator[None]:
    """Hold SIGTERM and Ctrl-C back until the block ends, then act on the first that came.

    Only the main thread receives signals; in a worker thread nothing needs holding back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    watched = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.getsignal(number) for number in watched}
    for number in watched:
        signal.signal(number, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if caught:
            signal.raise_signal(caught[0])


def give_up(app: App, schedule: Schedule, occurrence: int, error: str) -> list[str]:
    """Mark what is still pending of an occurrence failed, and its runs with it; returns who
    did not get the report."""
    rows = _existing(app, schedule, occurrence)
    pending = [row for row in rows.values() if row["status"] == "pending"]
    runids = sorted({int(row["runid"]) for row in pending})
    with app.state.begin() as connection:
        if pending:
            connection.execute(
                sa.update(deliveries)
                .where(deliveries.c.id.in_([int(row["id"]) for row in pending]))
                .values(status="failed")
            )
        if runids:
            connection.execute(
                sa.update(report_runs)
                .where(report_runs.c.id.in_(runids))
                .values(status="failed", error=redact_text(f"delivery failed: {error}"))
            )
    return [str(row["recipient"]) for row in pending]


def owner_address(app: App, schedule: Schedule) -> str:
    """The owner's Moodle address, or `[email] from` for schedules the operator owns."""
    if schedule.ownerid is not None:
        rows = app.moodle.fetch_all(
            f"SELECT email FROM {app.moodle.table('user')} WHERE id = :id",
            {"id": schedule.ownerid},
        )
        if rows and rows[0][0] and "@" in str(rows[0][0]):
            return str(rows[0][0])
    return app.settings.email.from_
