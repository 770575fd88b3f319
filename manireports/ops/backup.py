"""Backups of definitions: custom reports, schedules, custom dashboards and operator settings.

A backup is one JSON document with a format name and version. It holds what an operator made,
never what manireports computes or records (caches, runs, sessions, the audit log), so it stays
small and can move a site's definitions to another site. Moodle users appear by username, never
by id: ids differ between sites, usernames are what an operator recognises.

Restoring is idempotent: a definition whose name already exists is skipped (or replaced with
`--replace`, left alone when identical), so restoring the same file twice creates nothing the
second time. Everything is restored in one transaction; `--dry-run` rolls it back, so what it
prints is exactly what a real restore would do. SQL and report configurations are validated
again against this site's [reports] policy, and a refused definition is named in the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from manireports.app import App
from manireports.dashboard.custom import store_widgets
from manireports.errors import InputError, ManiReportsError
from manireports.reports.operator.custom import (
    list_custom_reports,
    save_custom_report,
    update_custom_report,
)
from manireports.schedule.recurrence import FREQUENCIES, Recurrence, next_fire
from manireports.sqlcheck.site import make_validator
from manireports.state.store import now_seconds, write_setting
from manireports.state.tables import (
    customreports,
    dashboard_widgets,
    dashboards,
    schedule_recipients,
    schedules,
    settings,
)

FORMAT = "manireports-backup"
VERSION = 1
# Settings that are bookkeeping of this site's data (log watermarks, locks), not definitions.
# Bookkeeping of this state database, never a definition: time-tracking watermarks, and the site
# the state is bound to (restored elsewhere, it would bind another site's state to this one).
INTERNAL_SETTINGS = ("timetracking.", "site.")
SECTIONS = ("reports", "schedules", "dashboards", "settings")


# -- backup ------------------------------------------------------------------------------------


def make_backup(app: App) -> dict[str, Any]:
    """Every definition in the state database as one document, sorted so that equal states
    give equal documents."""
    state = app.state
    with state.begin() as connection:
        reports = [_report_entry(record) for record in list_custom_reports(connection)]
        names = dict(connection.execute(sa.select(customreports.c.id, customreports.c.name)).all())
        schedule_rows = connection.execute(sa.select(schedules)).mappings().all()
        recipient_rows = connection.execute(sa.select(schedule_recipients)).mappings().all()
        dashboard_rows = connection.execute(sa.select(dashboards)).mappings().all()
        setting_rows = connection.execute(sa.select(settings.c.name, settings.c.value)).all()
    userids = {row["ownerid"] for row in schedule_rows if row["ownerid"] is not None}
    userids |= {row["userid"] for row in recipient_rows if row["userid"] is not None}
    usernames = _usernames(app, userids)
    by_schedule: dict[int, list[dict[str, Any]]] = {}
    for row in recipient_rows:
        entry = (
            {"email": row["email"]} if row["email"] else _user_ref(usernames, int(row["userid"]))
        )
        by_schedule.setdefault(int(row["scheduleid"]), []).append(entry)
    schedule_entries = [
        _schedule_entry(row, names, usernames, by_schedule.get(int(row["id"]), []))
        for row in schedule_rows
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "reports": sorted(reports, key=lambda r: r["name"]),
        "schedules": sorted(schedule_entries, key=_schedule_order),
        "dashboards": sorted(
            (json.loads(row["layoutjson"]) for row in dashboard_rows), key=lambda d: d["title"]
        ),
        "settings": {
            str(name): value
            for name, value in sorted(setting_rows)
            if not str(name).startswith(INTERNAL_SETTINGS)
        },
    }


def _schedule_order(entry: Mapping[str, Any]) -> tuple[str, str]:
    return entry["name"], json.dumps(entry, sort_keys=True)


def _report_entry(record: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": record.name,
        "description": record.description,
        "type": record.type,
    }
    if record.type == "config":
        entry["config"] = record.config
    else:
        entry["sql"] = record.sql
    return entry


def _usernames(app: App, userids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(userids))
    if not wanted:
        return {}
    moodle = app.moodle
    marks = ", ".join(f":u{index}" for index in range(len(wanted)))
    rows = moodle.fetch_all(
        f"SELECT id, username FROM {moodle.table('user')} WHERE id IN ({marks})",
        {f"u{index}": userid for index, userid in enumerate(wanted)},
    )
    return {int(userid): str(username) for userid, username in rows}


def _user_ref(usernames: Mapping[int, str], userid: int) -> dict[str, Any]:
    """A user by username; a user gone from Moodle keeps only its id, which restore refuses."""
    name = usernames.get(userid)
    return {"username": name} if name is not None else {"userid": userid}


def _schedule_entry(
    row: sa.RowMapping,
    names: Mapping[int, str],
    usernames: Mapping[int, str],
    recipients: list[dict[str, Any]],
) -> dict[str, Any]:
    custom = row["reportid"] is not None
    return {
        "name": row["name"],
        "report": names[row["reportid"]] if custom else row["report"],
        "custom_report": custom,
        "frequency": row["frequency"],
        "cron": row["cron_expr"],
        "at": row["at_time"],
        "weekday": row["weekday"],
        "monthday": row["monthday"],
        "format": row["format"],
        "params": json.loads(row["paramsjson"] or "{}"),
        "active": bool(row["active"]),
        "scope": row["scope"],
        "owner": None if row["ownerid"] is None else _user_ref(usernames, int(row["ownerid"])),
        "skip_empty": bool(row["skip_empty"]),
        "recipients": sorted(recipients, key=lambda r: json.dumps(r, sort_keys=True)),
    }


def write_backup(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def read_backup(path: Path) -> dict[str, Any]:
    """A backup file, checked for its format and version before anything is restored."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"Cannot read the backup {path} ({exc.strerror}).") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a manireports backup: it is not JSON ({exc}).") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f"{path} is not a manireports backup (no format {FORMAT!r}).")
    if document.get("version") != VERSION:
        raise InputError(
            f"{path} is a backup of format version {document.get('version')!r}; this "
            f"manireports reads version {VERSION}."
        )
    for section in SECTIONS:
        expected = dict if section == "settings" else list
        if not isinstance(document.get(section, expected()), expected):
            raise InputError(f"{path}: `{section}` must be a {expected.__name__}.")
    return document


# -- restore -----------------------------------------------------------------------------------


@dataclass
class RestoreOutcome:
    """What a restore did (or, dry, would do): (kind, name, action, reason) per definition."""

    items: list[tuple[str, str, str, str]] = field(default_factory=list)
    dry_run: bool = False

    def add(self, kind: str, name: str, action: str, reason: str = "") -> None:
        self.items.append((kind, name, action, reason))

    def count(self, action: str) -> int:
        return sum(1 for item in self.items if item[2] == action)

    @property
    def refused(self) -> list[tuple[str, str, str, str]]:
        return [item for item in self.items if item[2] == "refused"]


class _DryRun(Exception):
    """Raised to roll the restore's transaction back after a dry run."""


def restore_backup(
    app: App, document: Mapping[str, Any], *, dry_run: bool = False, replace: bool = False
) -> RestoreOutcome:
    """Restore a backup in one transaction; a dry run rolls it back when done."""
    outcome = RestoreOutcome(dry_run=dry_run)
    validator = make_validator(app.config, app.moodle)
    # Moodle user ids by username, looked up once per restore.
    users: dict[str, int | None] = {}
    try:
        with app.state.begin() as connection:
            for entry in document.get("reports", []):
                _restore_report(connection, entry, validator, replace, outcome)
            for entry in document.get("schedules", []):
                _restore_schedule(app, connection, entry, replace, outcome, users)
            for entry in document.get("dashboards", []):
                _restore_dashboard(app, connection, entry, replace, outcome)
            for name, value in sorted(document.get("settings", {}).items()):
                _restore_setting(connection, str(name), value, replace, outcome)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return outcome


def _restore_report(
    connection: sa.Connection,
    entry: Any,
    validator: Any,
    replace: bool,
    outcome: RestoreOutcome,
) -> None:
    name = str(entry.get("name", "")) if isinstance(entry, dict) else ""
    if not name:
        outcome.add("report", "?", "refused", "a report without a name")
        return
    sql = entry.get("sql") if entry.get("type", "sql") == "sql" else None
    config = entry.get("config") if entry.get("type") == "config" else None
    existing = next((r for r in list_custom_reports(connection) if r.name == name), None)
    if existing is not None:
        if _report_entry(existing) == _report_entry_of(entry):
            outcome.add("report", name, "skipped", "unchanged")
            return
        if not replace:
            outcome.add("report", name, "skipped", "exists (--replace replaces it)")
            return
    try:
        with connection.begin_nested():
            if existing is None:
                save_custom_report(
                    connection,
                    name=name,
                    sql=sql,
                    config=config,
                    description=entry.get("description"),
                    validator=validator,
                )
            else:
                update_custom_report(
                    connection,
                    existing.id,
                    sql=sql,
                    config=config,
                    description=entry.get("description") or "",
                    validator=validator,
                )
    except ManiReportsError as exc:
        outcome.add("report", name, "refused", str(exc))
        return
    outcome.add("report", name, "created" if existing is None else "updated")


def _report_entry_of(entry: Mapping[str, Any]) -> dict[str, Any]:
    kind = entry.get("type", "sql")
    result: dict[str, Any] = {
        "name": entry.get("name"),
        "description": entry.get("description"),
        "type": kind,
    }
    if kind == "config":
        result["config"] = entry.get("config")
    else:
        result["sql"] = entry.get("sql")
    return result


def _moodle_userid(app: App, ref: Any, cache: dict[str, int | None]) -> int:
    if not isinstance(ref, dict) or not isinstance(ref.get("username"), str):
        raise InputError(f"the user {ref!r} has no username in the backup")
    username = ref["username"]
    if username not in cache:
        rows = app.moodle.fetch_all(
            f"SELECT id FROM {app.moodle.table('user')} WHERE username = :u AND deleted = 0",
            {"u": username},
        )
        cache[username] = int(rows[0][0]) if rows else None
    found = cache[username]
    if found is None:
        raise InputError(f"there is no Moodle user {username!r} on this site")
    return found


def _schedule_row(
    app: App, connection: sa.Connection, entry: Mapping[str, Any], users: dict[str, int | None]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The schedule's row and recipients on this site, or InputError saying what is missing."""
    from manireports.reports.builtin import BUILTIN_REPORTS

    report = str(entry.get("report", ""))
    reportid = None
    if entry.get("custom_report"):
        reportid = connection.execute(
            sa.select(customreports.c.id).where(customreports.c.name == report)
        ).scalar_one_or_none()
        if reportid is None:
            raise InputError(f"its custom report {report!r} is not on this site")
    elif report not in BUILTIN_REPORTS:
        raise InputError(f"there is no built-in report {report!r}")
    frequency = entry.get("frequency")
    if frequency not in FREQUENCIES:
        raise InputError(f"the frequency {frequency!r} is unknown")
    rule = Recurrence(
        frequency=frequency,
        at=entry.get("at") or "",
        weekday=entry.get("weekday"),
        monthday=entry.get("monthday"),
        cron=entry.get("cron"),
    )
    owner = entry.get("owner")
    ownerid = None if owner is None else _moodle_userid(app, owner, users)
    recipients = []
    for ref in entry.get("recipients", []):
        if isinstance(ref, dict) and isinstance(ref.get("email"), str):
            recipients.append({"userid": None, "email": ref["email"]})
        else:
            recipients.append({"userid": _moodle_userid(app, ref, users), "email": None})
    if not recipients:
        raise InputError("it has no recipients")
    now = now_seconds()
    row = {
        "reportid": reportid,
        "report": report,
        "name": str(entry["name"]),
        "frequency": rule.frequency,
        "cron_expr": rule.cron,
        "at_time": rule.at or None,
        "weekday": rule.weekday,
        "monthday": rule.monthday,
        "format": str(entry.get("format", "csv")),
        "paramsjson": json.dumps(entry.get("params") or {}, sort_keys=True),
        "next_run": next_fire(rule, now, app.timezone),
        "active": int(bool(entry.get("active", True))),
        "scope": str(entry.get("scope", "recipient")),
        "ownerid": ownerid,
        "createdby": 0,
        "skip_empty": int(bool(entry.get("skip_empty", False))),
        "timecreated": now,
        "timemodified": now,
    }
    return row, recipients


def _restore_schedule(
    app: App,
    connection: sa.Connection,
    entry: Any,
    replace: bool,
    outcome: RestoreOutcome,
    users: dict[str, int | None],
) -> None:
    name = str(entry.get("name", "")) if isinstance(entry, dict) else ""
    if not name:
        outcome.add("schedule", "?", "refused", "a schedule without a name")
        return
    existing = connection.execute(
        sa.select(schedules.c.id).where(schedules.c.name == name).order_by(schedules.c.id)
    ).first()
    if existing is not None and not replace:
        outcome.add("schedule", name, "skipped", "exists (--replace replaces it)")
        return
    try:
        row, recipients = _schedule_row(app, connection, entry, users)
    except (InputError, ValueError, KeyError) as exc:
        outcome.add("schedule", name, "refused", str(exc))
        return
    if existing is None:
        key = connection.execute(sa.insert(schedules).values(row)).inserted_primary_key
        assert key is not None
        scheduleid = int(key[0])
    else:
        scheduleid = int(existing[0])
        kept = ("timecreated", "next_run", "createdby")
        changed = {k: v for k, v in row.items() if k not in kept}
        connection.execute(
            sa.update(schedules).where(schedules.c.id == scheduleid).values(**changed)
        )
        connection.execute(
            sa.delete(schedule_recipients).where(schedule_recipients.c.scheduleid == scheduleid)
        )
    connection.execute(
        sa.insert(schedule_recipients),
        [{"scheduleid": scheduleid, **recipient} for recipient in recipients],
    )
    outcome.add("schedule", name, "created" if existing is None else "updated")


def _restore_dashboard(
    app: App, connection: sa.Connection, entry: Any, replace: bool, outcome: RestoreOutcome
) -> None:
    from manireports.dashboard.custom import check_definition

    title = str(entry.get("title", "")) if isinstance(entry, dict) else ""
    if not title:
        outcome.add("dashboard", "?", "refused", "a dashboard without a title")
        return
    existing = connection.execute(
        sa.select(dashboards.c.id, dashboards.c.layoutjson)
        .where(dashboards.c.name == title)
        .order_by(dashboards.c.id)
    ).first()
    if existing is not None and json.loads(existing[1]) == entry:
        outcome.add("dashboard", title, "skipped", "unchanged")
        return
    if existing is not None and not replace:
        outcome.add("dashboard", title, "skipped", "exists (--replace replaces it)")
        return
    try:
        # The widgets' reports are checked on this connection, so reports restored above count.
        definition = check_definition(connection, entry)  # type: ignore[arg-type]
    except InputError as exc:
        outcome.add("dashboard", title, "refused", str(exc))
        return
    now = now_seconds()
    values = {
        "name": definition["title"],
        "description": definition["description"],
        "scope": "company" if definition["company"] is not None else "global",
        "companyid": definition["company"],
        "layoutjson": json.dumps(definition, ensure_ascii=False),
        "timemodified": now,
    }
    if existing is None:
        key = connection.execute(
            sa.insert(dashboards).values(**values, createdby=0, timecreated=now)
        ).inserted_primary_key
        assert key is not None
        dashboard_id = int(key[0])
    else:
        dashboard_id = int(existing[0])
        connection.execute(
            sa.update(dashboards).where(dashboards.c.id == dashboard_id).values(**values)
        )
        connection.execute(
            sa.delete(dashboard_widgets).where(dashboard_widgets.c.dashboardid == dashboard_id)
        )
    store_widgets(connection, dashboard_id, definition)
    outcome.add("dashboard", title, "created" if existing is None else "updated")


def _restore_setting(
    connection: sa.Connection, name: str, value: Any, replace: bool, outcome: RestoreOutcome
) -> None:
    if name.startswith(INTERNAL_SETTINGS):
        outcome.add("setting", name, "refused", "internal bookkeeping is never restored")
        return
    current = connection.execute(sa.select(settings.c.value).where(settings.c.name == name)).first()
    if current is not None and current[0] == value:
        outcome.add("setting", name, "skipped", "unchanged")
        return
    if current is not None and not replace:
        outcome.add("setting", name, "skipped", "exists (--replace replaces it)")
        return
    write_setting(connection, name, None if value is None else str(value))
    outcome.add("setting", name, "created" if current is None else "updated")
