"""Custom reports: SQL written by the operator, or built from a configuration.

They are stored in manireports_customreports, type 'sql' (report_customsql style SQL in
`sqlquery`) or 'config' (the builder's JSON in `configjson`, see reports.operator.configured).
Creating, changing and deleting one writes an audit entry in the same transaction. The checks
against the site's [reports] lists are in sqlcheck.site.

SQL follows report_customsql's conventions:
- `{table}` for Moodle tables; a hard-coded prefix is refused with a hint (sqlcheck).
- `:name` parameters, given as `--param name=value`. A name starting or ending with `date`
  (report_customsql's rule, case-sensitive: `:date_from`, `:startdate`, `:end_date`) takes a date
  or "YYYY-MM-DD HH:MM[:SS]" in the site timezone and binds its Unix time; a date alone is
  midnight at the start of that day, and a value that is no date is refused. Every other
  parameter is bound as text, as report_customsql does. Parameters have no defaults: a run
  without one is refused, naming it. `:now` is not a parameter: the run fills it with its moment
  (the --as-of time when given).
- %%STARTTIME%% and %%ENDTIME%% are replaced everywhere, string literals included, by the start
  and end of the reporting period of a scheduled run; a run without a period gets 0 and the
  run's moment. %%USERID%% is the acting user (--as-user, or the schedule's recipient), 0 for the
  shell operator. %%WWWROOT%%, %%Q%%, %%C%% and %%S%% are replaced in the result values (the site
  URL, '?', ':' and ';'), as report_customsql does to build links; the site URL comes from
  [moodle] wwwroot or config.php's $CFG->wwwroot. %%FLAGS%% is refused (sqlcheck).
- `SELECT *` or `t.*` over a table with denied columns is listed out as its allowed columns
  (sqlcheck); the validator's notice says which columns were left out.

Validation (sqlcheck, by the real parser) happens on create, on update and again before every run,
because [reports] deny and allow lists may have changed since the report was saved.

Names are unique ignoring case, so `run-report NAME` finds one report on every state database
engine; a name may not be a number (that is an id), start with '-', or be a built-in report's.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from manireports.errors import InputError
from manireports.reports.builtin import BUILTIN_REPORTS
from manireports.reports.params import Param, ParamKind
from manireports.reports.spec import BuiltinReport, ReportContext
from manireports.sqlcheck import CheckedSQL
from manireports.sqlcheck.site import SqlValidator, no_site_url
from manireports.sqltext import parameter_names
from manireports.state import record_audit, transaction
from manireports.state.store import StateDB, now_seconds
from manireports.state.tables import customreports, schedules

if TYPE_CHECKING:
    from manireports.reports.operator.configured import ConfiguredQuery

ReportType = Literal["sql", "config"]

# A custom report may not take a built-in report's name: `run-report NAME` would find two. Every
# built-in report is in the catalogue, so the catalogue is the whole list.
RESERVED_NAMES = frozenset(BUILTIN_REPORTS)
# Filled by the report runner with the moment of the run, never given as --param.
RUN_PARAMETERS = frozenset({"now"})
MAX_NAME_LENGTH = 255
OBJECT_TYPE = "customreport"

_TOKEN = re.compile(r"%%(STARTTIME|ENDTIME|USERID)%%")
_OUTPUT_TOKEN = re.compile(r"%%(WWWROOT|Q|C|S)%%")
_OUTPUT_CHARACTERS = {"Q": "?", "C": ":", "S": ";"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PARAM_HELP: Mapping[ParamKind, str] = {
    "date": 'a date or "YYYY-MM-DD HH:MM" (site timezone), bound as Unix time',
    "text": "text",
    "int": "a whole number",
}


def check_report_config(config: Mapping[str, Any], validator: SqlValidator) -> ConfiguredQuery:
    """Build a report configuration and hold it to the [reports] lists, as `reports validate`
    shows."""
    # The report builder (its catalogue of Moodle's tables) is loaded only for config-built
    # reports: running or listing custom SQL does not need it.
    from manireports.reports.operator.configured import check_configured

    return check_configured(config, validator)


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomReportRecord:
    """One stored custom report. `sql` is set for type 'sql', `configjson` for type 'config'."""

    id: int
    name: str
    type: ReportType
    sql: str | None
    configjson: str | None
    description: str | None
    createdby: int
    timecreated: int
    timemodified: int

    @property
    def config(self) -> dict[str, Any] | None:
        """The builder configuration of a config-built report."""
        if self.configjson is None:
            return None
        try:
            value = json.loads(self.configjson)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise InputError(
                f"The stored configuration of the custom report {self.name} is damaged; "
                f"replace it with `manireports reports update {self.id} --config-file FILE`."
            )
        return value

    @property
    def parameters(self) -> tuple[str, ...]:
        """The `--param` names the report takes (none for a config-built report)."""
        if self.sql is None:
            return ()
        return tuple(n for n in parameter_names(self.sql) if n not in RUN_PARAMETERS)


def _record(row: sa.RowMapping) -> CustomReportRecord:
    kind: ReportType = "config" if row["type"] == "config" else "sql"
    return CustomReportRecord(
        id=int(row["id"]),
        name=str(row["name"]),
        type=kind,
        sql=row["sqlquery"],
        configjson=row["configjson"],
        description=row["description"],
        createdby=int(row["createdby"]),
        timecreated=int(row["timecreated"]),
        timemodified=int(row["timemodified"]),
    )


def _check_name(given: Any) -> str:
    if not isinstance(given, str) or not given.strip():
        raise InputError("A custom report needs a name (--name).")
    name = given.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(f"The report name is {len(name)} characters long; at most 255 are kept.")
    if _CONTROL.search(name):
        raise InputError("The report name may not contain control characters such as newlines.")
    if name.isdigit():
        raise InputError(
            f"The report name {name!r} is a number, which `run-report` would read as an id; "
            "use a name with letters."
        )
    if name.startswith("-"):
        raise InputError(
            f"The report name {name!r} may not start with '-' (it reads as an option)."
        )
    if name.lower() in RESERVED_NAMES:
        raise InputError(f"{name!r} is the name of a built-in report; choose another name.")
    return name


def _refuse_duplicate(connection: sa.Connection, name: str, report_id: int | None) -> None:
    query = sa.select(customreports.c.id, customreports.c.name).where(
        sa.func.lower(customreports.c.name) == name.lower()
    )
    if report_id is not None:
        query = query.where(customreports.c.id != report_id)
    found = connection.execute(query).first()
    if found is not None:
        raise _duplicate(name, int(found.id))


def _duplicate(name: str, other: int | None = None) -> InputError:
    which = f" (id {other})" if other is not None else ""
    return InputError(
        f"A custom report called {name!r} already exists{which}; choose another name or "
        "update that report."
    )


def _config_text(config: Any) -> str:
    if not isinstance(config, Mapping):
        raise InputError("A report configuration is an object with a source, columns, ...")
    try:
        return json.dumps(config, ensure_ascii=False, indent=2)
    except (TypeError, ValueError) as exc:
        raise InputError(f"The report configuration cannot be stored as JSON ({exc}).") from None


def _definition(
    sql: str | None, config: Mapping[str, Any] | None, validator: SqlValidator
) -> tuple[ReportType, str | None, str | None, dict[str, Any]]:
    """Validate a new definition; returns the type, the stored columns and the audit details."""
    if sql is not None and config is not None:
        raise InputError("A custom report is either SQL (--sql-file) or a configuration, not both.")
    if sql is not None:
        text = sql.strip()
        validator(text)
        return "sql", text, None, {"sql": text}
    if config is not None:
        stored = _config_text(config)
        check_report_config(json.loads(stored), validator)
        return "config", None, stored, {"config": json.loads(stored)}
    raise InputError("A custom report needs SQL (--sql-file) or a configuration (--config-file).")


def _description(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip() or None


def save_custom_report(
    state: StateDB | sa.Connection,
    *,
    name: str,
    sql: str | None = None,
    config: Mapping[str, Any] | None = None,
    description: str | None = None,
    createdby: int = 0,
    validator: SqlValidator,
    now: int | None = None,
) -> int:
    """Validate and store a new custom report, audited as report_created (or report_refused);
    returns its id."""
    attempt = {"name": name, **_attempted(sql, config)}
    with _refusals_audited(state, "create", createdby, None, attempt):
        return _save(state, name, sql, config, description, createdby, validator, now)


def _save(
    state: StateDB | sa.Connection,
    name: str,
    sql: str | None,
    config: Mapping[str, Any] | None,
    description: str | None,
    createdby: int,
    validator: SqlValidator,
    now: int | None,
) -> int:
    name = _check_name(name)
    kind, sqlquery, configjson, details = _definition(sql, config, validator)
    description = _description(description)
    moment = now_seconds(now)
    row = {
        "name": name,
        "type": kind,
        "sqlquery": sqlquery,
        "configjson": configjson,
        "description": description,
        "createdby": createdby,
        "timecreated": moment,
        "timemodified": moment,
    }
    with transaction(state) as connection:
        _refuse_duplicate(connection, name, None)
        try:
            key = connection.execute(sa.insert(customreports).values(row)).inserted_primary_key
        except sa.exc.IntegrityError:
            raise _duplicate(name) from None
        assert key is not None
        report_id = int(key[0])
        record_audit(
            connection,
            userid=createdby,
            action="report_created",
            objecttype=OBJECT_TYPE,
            objectid=report_id,
            details={"name": name, "type": kind, "description": description, **details},
            now=moment,
        )
    return report_id


def update_custom_report(
    state: StateDB | sa.Connection,
    report_id: int,
    *,
    name: str | None = None,
    sql: str | None = None,
    config: Mapping[str, Any] | None = None,
    description: str | None = None,
    validator: SqlValidator,
    userid: int = 0,
    now: int | None = None,
) -> CustomReportRecord:
    """Change a custom report, audited as report_updated; returns it as it is now.

    Given SQL makes it an SQL report and a configuration a config-built one. An empty
    description removes it. Schedules keep pointing at the report by id.
    """
    if name is None and sql is None and config is None and description is None:
        raise InputError("Nothing to update: give a new name, SQL, configuration or description.")
    attempt = {"name": name, **_attempted(sql, config)}
    with _refusals_audited(state, "update", userid, report_id, attempt):
        return _update(state, report_id, name, sql, config, description, validator, userid, now)


def _update(
    state: StateDB | sa.Connection,
    report_id: int,
    name: str | None,
    sql: str | None,
    config: Mapping[str, Any] | None,
    description: str | None,
    validator: SqlValidator,
    userid: int,
    now: int | None,
) -> CustomReportRecord:
    changes: dict[str, Any] = {}
    details: dict[str, Any] = {}
    given = {"name": name, "sql": sql, "config": config, "description": description}
    changed = [key for key, value in given.items() if value is not None]
    if name is not None:
        changes["name"] = _check_name(name)
    if sql is not None or config is not None:
        kind, sqlquery, configjson, definition = _definition(sql, config, validator)
        changes.update(type=kind, sqlquery=sqlquery, configjson=configjson)
        details.update(definition, type=kind)
    if description is not None:
        changes["description"] = details["description"] = _description(description)
    moment = now_seconds(now)
    with transaction(state) as connection:
        current = _fetch(connection, report_id)
        if current is None:
            raise _missing(report_id)
        if "name" in changes:
            _refuse_duplicate(connection, changes["name"], report_id)
            if changes["name"] != current.name:
                details["previous_name"] = current.name
        try:
            connection.execute(
                sa.update(customreports)
                .where(customreports.c.id == report_id)
                .values(**changes, timemodified=moment)
            )
        except sa.exc.IntegrityError:
            raise _duplicate(changes.get("name", current.name)) from None
        record_audit(
            connection,
            userid=userid,
            action="report_updated",
            objecttype=OBJECT_TYPE,
            objectid=report_id,
            details={
                "name": changes.get("name", current.name),
                "changed": changed,
                **details,
            },
            now=moment,
        )
        updated = _fetch(connection, report_id)
    assert updated is not None
    return updated


def delete_custom_report(
    state: StateDB | sa.Connection,
    report_id: int,
    *,
    userid: int = 0,
    now: int | None = None,
) -> CustomReportRecord:
    """Delete a custom report that no schedule uses, audited as report_deleted; returns what was
    deleted. Its past runs stay in the run history, without the link. A refusal is audited as
    report_refused."""
    with _refusals_audited(state, "delete", userid, report_id, {}):
        return _delete(state, report_id, userid, now)


def _delete(
    state: StateDB | sa.Connection, report_id: int, userid: int, now: int | None
) -> CustomReportRecord:
    with transaction(state) as connection:
        current = _fetch(connection, report_id)
        if current is None:
            raise _missing(report_id)
        users = connection.execute(
            sa.select(schedules.c.id, schedules.c.name)
            .where(schedules.c.reportid == report_id)
            .order_by(schedules.c.id)
        ).all()
        if users:
            named = ", ".join(f"{row.name!r} (id {row.id})" for row in users)
            plural = "schedules" if len(users) > 1 else "schedule"
            them = "them" if len(users) > 1 else "it"
            raise InputError(
                f"The custom report {current.name!r} is used by the {plural} {named}; delete "
                f"{them} or point {them} at another report first."
            )
        try:
            connection.execute(sa.delete(customreports).where(customreports.c.id == report_id))
        except sa.exc.IntegrityError:
            raise InputError(
                f"The custom report {current.name!r} is now used by a schedule; delete that "
                "schedule first."
            ) from None
        definition: dict[str, Any] = (
            {"sql": current.sql} if current.type == "sql" else {"config": current.config}
        )
        record_audit(
            connection,
            userid=userid,
            action="report_deleted",
            objecttype=OBJECT_TYPE,
            objectid=report_id,
            details={
                "name": current.name,
                "type": current.type,
                "description": current.description,
                **definition,
            },
            now=now,
        )
    return current


def _attempted(sql: str | None, config: Mapping[str, Any] | None) -> dict[str, Any]:
    if config is not None:
        return {"type": "config", "config": config}
    return {} if sql is None else {"type": "sql", "sql": sql}


@contextmanager
def _refusals_audited(
    state: StateDB | sa.Connection,
    operation: str,
    userid: int,
    report_id: int | None,
    attempt: Mapping[str, Any],
) -> Iterator[None]:
    """Record a refused create, update or delete (every refused attempt is audited) with
    what was tried and why, then let the refusal go on to the caller."""
    try:
        yield
    except InputError as refusal:
        record_audit(
            state,
            userid=userid,
            action="report_refused",
            objecttype=OBJECT_TYPE,
            objectid=report_id,
            details={**attempt, "operation": operation, "reason": str(refusal)},
        )
        raise


def _missing(report_id: int | str) -> InputError:
    return InputError(
        f"There is no custom report {report_id}; `manireports reports list` shows the reports."
    )


def _fetch(connection: sa.Connection, report_id: int) -> CustomReportRecord | None:
    row = (
        connection.execute(sa.select(customreports).where(customreports.c.id == report_id))
        .mappings()
        .first()
    )
    return None if row is None else _record(row)


def get_custom_report(
    state: StateDB | sa.Connection, id_or_name: int | str
) -> CustomReportRecord | None:
    """A custom report by id (a number, also as text) or by name (ignoring case), or None."""
    with transaction(state) as connection:
        if isinstance(id_or_name, int) and not isinstance(id_or_name, bool):
            return _fetch(connection, id_or_name)
        text = str(id_or_name).strip()
        if text.isdigit():
            return _fetch(connection, int(text))
        row = (
            connection.execute(
                sa.select(customreports)
                .where(sa.func.lower(customreports.c.name) == text.lower())
                .order_by(customreports.c.id)
            )
            .mappings()
            .first()
        )
    return None if row is None else _record(row)


def require_custom_report(
    state: StateDB | sa.Connection, id_or_name: int | str
) -> CustomReportRecord:
    """Like get_custom_report, but a missing report is an InputError naming it."""
    found = get_custom_report(state, id_or_name)
    if found is None:
        raise _missing(repr(id_or_name) if isinstance(id_or_name, str) else id_or_name)
    return found


def list_custom_reports(state: StateDB | sa.Connection) -> list[CustomReportRecord]:
    """Every custom report, by name (ignoring case)."""
    with transaction(state) as connection:
        rows = connection.execute(sa.select(customreports)).mappings().all()
    return sorted((_record(row) for row in rows), key=lambda r: (r.name.lower(), r.id))


# -- running ----------------------------------------------------------------------------------


def param_kind(name: str) -> ParamKind:
    """report_customsql's rule: a parameter whose name starts or ends with `date` is a date,
    anything else text."""
    return "date" if name.startswith("date") or name.endswith("date") else "text"


def fill_tokens(
    sql: str,
    *,
    start: int | None,
    end: int | None,
    userid: int,
    now: int | None = None,
) -> str:
    """Replace %%STARTTIME%%, %%ENDTIME%% and %%USERID%% everywhere (strings included, as
    report_customsql does) with whole numbers. Without a reporting period the start is 0 and the
    end is `now` (default: the current time)."""
    moment = int(time.time()) if now is None else int(now)
    values = {
        "STARTTIME": 0 if start is None else int(start),
        "ENDTIME": moment if end is None else int(end),
        "USERID": int(userid),
    }

    def number(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        # A negative number after '-' would start a comment (`a--5`).
        return str(value) if value >= 0 else f"({value})"

    return _TOKEN.sub(number, sql)


def fill_output_tokens(
    rows: Iterator[tuple[Any, ...]], wwwroot: str | None
) -> Iterator[tuple[Any, ...]]:
    """Rows with %%WWWROOT%%, %%Q%%, %%C%% and %%S%% replaced in their text values, as
    report_customsql does to build links (`%%WWWROOT%%/course/view.php%%Q%%id=2`)."""
    values = {**_OUTPUT_CHARACTERS, "WWWROOT": wwwroot or ""}

    def fill(value: Any) -> Any:
        if isinstance(value, str) and "%%" in value:
            return _OUTPUT_TOKEN.sub(lambda match: values[match.group(1)], value)
        return value

    for row in rows:
        yield tuple(fill(value) for value in row)


def custom_report_spec(
    record: CustomReportRecord, checked: CheckedSQL, wwwroot: str | None = None
) -> BuiltinReport:
    """An SQL custom report, checked, as the report runner runs it: the checked SQL with its
    tokens still in it (the runner fills them with fill_tokens), columns found at run time, and
    one parameter per `:name`, without defaults. Output tokens in the SQL fill the result values
    (`wwwroot` is the site URL; a report that uses %%WWWROOT%% is refused without one)."""
    params = tuple(
        Param(name, param_kind(name), _PARAM_HELP[param_kind(name)])
        for name in checked.parameters
        if name not in RUN_PARAMETERS
    )
    transform = None
    if _OUTPUT_TOKEN.search(checked.sql):
        if wwwroot is None and "%%WWWROOT%%" in checked.sql:
            raise no_site_url()

        def transform(rows: Iterator[Any], _context: ReportContext) -> Iterator[Any]:
            return fill_output_tokens(rows, wwwroot)

    return BuiltinReport(
        name=record.name,
        title=record.name,
        description=record.description or "",
        columns=(),
        params=params,
        bind=_require_params(record.name, params),
        sql_text=checked.sql,
        custom_id=record.id,
        transform=transform,
    )


def _require_params(
    report: str, params: tuple[Param, ...]
) -> Callable[[ReportContext], dict[str, Any]]:
    def bind(context: ReportContext) -> dict[str, Any]:
        missing = [p for p in params if context.params.get(p.name) is None]
        if missing:
            options = " ".join(f"--param {p.name}=..." for p in missing)
            dates = [p.name for p in missing if p.kind == "date"]
            hint = (
                f' ({", ".join(dates)}: YYYY-MM-DD or "YYYY-MM-DD HH:MM", site timezone)'
                if dates
                else ""
            )
            raise InputError(f"The report {report} needs {options}{hint}.")
        return {}

    return bind


def report_spec(record: CustomReportRecord, validator: SqlValidator) -> BuiltinReport:
    """Any custom report as the runner runs it, validated again now (the [reports] policy or the
    site's tables may have changed since it was saved)."""
    if record.type == "config":
        from manireports.reports.operator.configured import configured_report_spec

        if record.config is None:
            raise InputError(f"The custom report {record.name} is not config-built.")
        return configured_report_spec(
            record.config,
            validator,
            name=record.name,
            description=record.description,
            custom_id=record.id,
        )
    if record.sql is None:
        raise InputError(
            f"The custom report {record.name} has no SQL; replace it with "
            f"`manireports reports update {record.id} --sql-file FILE`."
        )
    checked = validator(record.sql)
    wwwroot = validator.site_url() if "%%WWWROOT%%" in checked.sql else None
    return custom_report_spec(record, checked, wwwroot)
