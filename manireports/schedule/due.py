"""`jobs run-due` and `schedule run`: claim, deliver, then advance, retry or give up.

A stop (SIGTERM, Ctrl-C) ends the step in progress or rolls it back, then gives the claim back
without advancing the schedule, so the next run-due resumes the occurrence where it stopped: the
mails recorded as sent are not sent again and the files already made are re-used. With
`[schedule] max_concurrent` above 1 the worker threads cannot be interrupted; each finishes the
report or mail it is on and stops before the next one.

A failed attempt is not retried by sleeping: the next attempt's time goes into the schedule's
`retry_at` (`[schedule] retry_delay_seconds`, doubling each time) and whichever run-due comes by
after it picks the occurrence up, on any host. After `[schedule] retries` retries the occurrence
is failed, its owner is mailed, and the schedule moves on to its next run.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from manireports.app import App
from manireports.errors import ManiReportsError, RunError
from manireports.mail import compose, send
from manireports.reports.run import OPERATOR
from manireports.schedule.claims import (
    claim_next_due,
    claim_now,
    new_token,
    release,
    renew_claim,
)
from manireports.schedule.delivery import (
    ClaimLostError,
    Outcome,
    deliver,
    give_up,
    owner_address,
    period_text,
    schedule_coverage,
)
from manireports.schedule.recurrence import next_fire, period
from manireports.schedule.store import Schedule, get_schedule
from manireports.schedule.templates import render_mail
from manireports.state import record_audit


@dataclass
class DueReport:
    """What one run-due did, one line per schedule, for the command line to show."""

    delivered: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    unconfirmed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, line: str) -> None:
        with self._lock:
            getattr(self, kind).append(line)


class _Stopped(Exception):
    """The process is stopping: a worker thread ends its schedule before the next step."""


class _Claim:
    """This process's hold on one schedule."""

    def __init__(
        self, app: App, scheduleid: int, token: str, stop: threading.Event | None = None
    ) -> None:
        self.app = app
        self.scheduleid = scheduleid
        self.token = token
        self.timeout = app.settings.schedule.claim_timeout_seconds
        self.stop = stop or threading.Event()

    def keep(self) -> None:
        if self.stop.is_set():
            raise _Stopped
        if not renew_claim(
            self.app.state, self.scheduleid, self.token, self.app.now(), self.timeout
        ):
            raise ClaimLostError(
                f"Schedule {self.scheduleid} was taken over by another process after this "
                "one's claim expired; raise [schedule] claim_timeout_seconds."
            )

    def release(self, **values: Any) -> None:
        if not release(self.app.state, self.scheduleid, self.token, **values):
            raise ClaimLostError(
                f"Schedule {self.scheduleid} was taken over by another process before this "
                "one finished; raise [schedule] claim_timeout_seconds."
            )


def run_due(app: App) -> DueReport:
    """Run every due schedule once, `[schedule] max_concurrent` at a time."""
    config = app.config
    workers = max(1, config.settings.schedule.max_concurrent)
    timeout = config.settings.schedule.claim_timeout_seconds
    token = new_token()
    # Resolved once here: the lazily built connections and site facts are shared by the threads.
    state, _zone, _engine = app.state, app.timezone, app.moodle.engine
    report = DueReport()
    # One attempt per schedule and run-due: a retry due at once waits for the next run-due.
    handled: set[int] = set()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            scheduleid = claim_next_due(state, token, app.now(), timeout, skip=handled)
            if scheduleid is None:
                return
            handled.add(scheduleid)
            _run_claimed(app, _Claim(app, scheduleid, token, stop), report)

    if workers == 1:
        work()
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(work) for _ in range(workers)]
            try:
                for future in futures:
                    future.result()
            except KeyboardInterrupt:
                # Leaving the block waits for the workers, which stop after their current step.
                stop.set()
                raise
    return report


def _attempt(app: App, schedule: Schedule, occurrence: int, claim: _Claim) -> Outcome:
    try:
        return deliver(app, schedule, occurrence, claim.keep)
    except ClaimLostError:
        raise
    except ManiReportsError as exc:
        return Outcome(errors=[str(exc)])


def _run_claimed(app: App, claim: _Claim, report: DueReport) -> None:
    try:
        _run_held(app, claim, report)
    except (KeyboardInterrupt, _Stopped) as stopping:
        # Give the occurrence back as it is; the next run-due resumes it.
        with contextlib.suppress(ClaimLostError):
            claim.release()
        if isinstance(stopping, KeyboardInterrupt):
            raise


def _run_held(app: App, claim: _Claim, report: DueReport) -> None:
    schedule = get_schedule(app.state, claim.scheduleid)
    occurrence = schedule.next_run
    tz = app.timezone
    shown = f"schedule {schedule.id} ({schedule.name})"
    try:
        outcome = _attempt(app, schedule, occurrence, claim)
        now = app.now()
        details: dict[str, Any] = {
            "occurrence": occurrence,
            "period": period_text(*period(schedule.rule, occurrence, tz), tz),
            "attempt": schedule.attempt + 1,
            "sent": outcome.sent,
            "skipped": outcome.skipped,
            "runs": outcome.runs,
            "unconfirmed": outcome.unconfirmed,
        }
        upcoming = next_fire(schedule.rule, max(occurrence, now), tz)
        if outcome.refused and schedule.attempt == 0:
            # Told once, at the occurrence's first attempt; a retry for another reason is not
            # a new refusal.
            line = _refusals(app, schedule, occurrence, outcome.refused)
            report.add("refused", f"{shown}: {line}")
        if outcome.complete:
            claim.release(next_run=upcoming, attempt=0, retry_at=None, last_run=now)
            _audit(app, schedule, "schedule_run", details)
            report.add("delivered", f"{shown}: {len(outcome.sent)} mail(s) sent.")
            if outcome.unconfirmed:
                report.add(
                    "unconfirmed",
                    f"{shown}: not sent again, as an earlier run died while handing them to the "
                    f"SMTP server (check its log for the Message-ID): "
                    f"{', '.join(outcome.unconfirmed)}.",
                )
            return
        error = "; ".join(outcome.errors)
        attempt = schedule.attempt + 1
        retries = app.settings.schedule.retries
        if attempt <= retries:
            delay = app.settings.schedule.retry_delay_seconds * 2 ** (attempt - 1)
            claim.release(attempt=attempt, retry_at=now + delay)
            _audit(
                app,
                schedule,
                "schedule_retry",
                {**details, "error": error, "retry_at": now + delay},
            )
            report.add(
                "retrying", f"{shown} failed ({error}); retry {attempt} of {retries} in {delay} s."
            )
            return
        undelivered = give_up(app, schedule, occurrence, error)
        notice = _tell_owner(app, schedule, details["period"], attempt, error, undelivered)
        claim.release(next_run=upcoming, attempt=0, retry_at=None, last_run=now)
        _audit(
            app,
            schedule,
            "schedule_failed",
            {**details, "error": error, "undelivered": undelivered, "owner_notice": notice},
        )
        report.add("failed", f"{shown} failed after {attempt} attempts: {error}")
    except ClaimLostError as lost:
        report.add("lost", str(lost))


def _tell_owner(
    app: App,
    schedule: Schedule,
    shown_period: str,
    attempts: int,
    error: str,
    undelivered: list[str],
) -> str:
    """Mail the owner that the occurrence failed for good; says what became of the notice."""
    address = owner_address(app, schedule)
    values = {
        "schedule": schedule.name,
        "scheduleid": schedule.id,
        "report": schedule.report,
        "period": shown_period,
        "attempts": attempts,
        "error": error,
        "undelivered": undelivered,
        "host": socket.gethostname(),
    }
    try:
        subject, body = render_mail(app.config, "failure", values)
        send(app.config, compose(app.config, to=[address], subject=subject, body=body))
    except ManiReportsError as exc:
        return f"could not be sent to {address}: {exc}"
    return f"sent to {address}"


def _refusals(app: App, schedule: Schedule, occurrence: int, refused: list[str]) -> str:
    """Audit the recipients left out for want of access and tell the owner; returns a line."""
    tz = app.timezone
    covers = schedule_coverage(app, schedule, occurrence, period(schedule.rule, occurrence, tz))
    address = owner_address(app, schedule)
    values = {
        "schedule": schedule.name,
        "scheduleid": schedule.id,
        "report": schedule.report,
        "covers": covers.words,
        "refused": refused,
        "host": socket.gethostname(),
    }
    try:
        subject, body = render_mail(app.config, "refused", values)
        send(app.config, compose(app.config, to=[address], subject=subject, body=body))
        notice = f"sent to {address}"
    except ManiReportsError as exc:
        notice = f"could not be sent to {address}: {exc}"
    _audit(
        app,
        schedule,
        "schedule_recipient_refused",
        {"occurrence": occurrence, "refused": refused, "owner_notice": notice},
    )
    return f"left out {'; '.join(refused)} (owner notice {notice})."


def _audit(app: App, schedule: Schedule, action: str, details: dict[str, Any]) -> None:
    record_audit(
        app.state,
        userid=OPERATOR,
        action=action,
        objecttype="schedule",
        objectid=schedule.id,
        details={"name": schedule.name, "report": schedule.report, **details},
    )


def run_now(app: App, scheduleid: int) -> Outcome:
    """`schedule run ID`: deliver now, for the period that ends now, once, without retries.

    Paused schedules run too (the operator asked); the schedule's own next run and pending
    retries are left as they are.
    """
    schedule = get_schedule(app.state, scheduleid)
    token = new_token()
    now = app.now()
    timeout = app.settings.schedule.claim_timeout_seconds
    if not claim_now(app.state, scheduleid, token, now, timeout):
        raise RunError(
            f"Schedule {scheduleid} is being run by another process now; try again when it is done."
        )
    claim = _Claim(app, scheduleid, token)
    try:
        outcome = _attempt(app, schedule, now, claim)
    except KeyboardInterrupt:
        with contextlib.suppress(ClaimLostError):
            claim.release()
        raise
    if outcome.refused:
        _refusals(app, schedule, now, outcome.refused)
    tz = app.timezone
    details: dict[str, Any] = {
        "occurrence": now,
        "period": period_text(*period(schedule.rule, now, tz), tz),
        "manual": True,
        "sent": outcome.sent,
        "skipped": outcome.skipped,
        "runs": outcome.runs,
        "unconfirmed": outcome.unconfirmed,
    }
    if outcome.complete:
        claim.release(last_run=app.now())
        _audit(app, schedule, "schedule_run", details)
        return outcome
    error = "; ".join(outcome.errors)
    undelivered = give_up(app, schedule, now, error)
    claim.release(last_run=app.now())
    _audit(
        app, schedule, "schedule_failed", {**details, "error": error, "undelivered": undelivered}
    )
    raise RunError(f"Schedule {scheduleid} ({schedule.name}) failed: {error}")
