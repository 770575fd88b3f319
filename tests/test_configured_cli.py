"""Config-built reports through the command line and the report runner, on the demo site.

Every example in examples/reports is created and run here, so the documented examples cannot
rot; mistakes exit 2 naming the bad key and the choices; hostile filter values stay values; and
every creation, change, deletion, run and refusal lands in the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from manireports.app import App
from manireports.config import load_config
from manireports.demo import build_demo
from manireports.export import ExportOptions
from manireports.moodle.connection import MoodleDB
from manireports.reports.operator.configured import (
    AGGREGATES,
    CONFIG_KEYS,
    FORMATS,
    OPS,
    SOURCE_ALIASES,
    SOURCES,
    build_configured_sql,
    load_report_config,
)
from manireports.reports.operator.custom import save_custom_report
from manireports.reports.run import ReportRequest, prepare_report, run_report
from manireports.sqlcheck.site import make_validator
from manireports.state import StateDB, list_audit
from tests.cli_runner import REPO, invoke
from tests.conftest import ENGINES, fresh_database

EXAMPLES = sorted((REPO / "examples" / "reports").glob("*.*"))
HOSTILE = [
    "x' OR '1'='1",
    "'; DROP TABLE mdl_user; --",
    '") OR 1=1 --',
    "%%SCOPE%%",
    "%%STARTTIME%%",
    "{user}",
    ":p0",
    ":now",
    "\\' OR 1=1 #",
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The small demo on SQLite with an upgraded state database."""
    tmp_path = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    build_demo(url, size="small", seed=7, anchor=date(2026, 6, 1))
    env = {
        "MANIREPORTS_MOODLE_URL": url,
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
    }
    upgraded = invoke("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    return env


@pytest.fixture(scope="module", params=ENGINES)
def demo_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[App]:
    """The small demo on each engine, with a state database of its own."""
    tmp_path = tmp_path_factory.mktemp("demo")
    for url in fresh_database(request.param, tmp_path):
        build_demo(url, size="small", seed=7, anchor=date(2026, 6, 1))
        state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
        StateDB(state_url).upgrade()
        environ = {"MANIREPORTS_MOODLE_URL": url, "MANIREPORTS_STATE_URL": state_url}
        application = App(load_config(environ=environ))
        yield application
        application.moodle.dispose()


def _run_json(app: App, request: ReportRequest) -> list[dict[str, Any]]:
    out = BytesIO()
    run_report(app, request, fmt="json", destination=out, options=ExportOptions())
    rows: list[dict[str, Any]] = json.loads(out.getvalue())
    return rows


def test_there_are_toml_and_json_examples() -> None:
    assert {path.suffix for path in EXAMPLES} == {".toml", ".json"}
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_creates_and_runs_on_the_demo(demo_app: App, path: Path) -> None:
    app = demo_app
    config = load_report_config(path)
    name = f"example {path.stem}"
    report_id = save_custom_report(
        app.state, name=name, config=config, validator=make_validator(app.config, app.moodle)
    )
    rows = _run_json(app, ReportRequest(name, as_of="2026-06-01 00:00"))
    query = build_configured_sql(config, engine="sqlite")
    assert rows and list(rows[0]) == [column.name for column in query.columns]
    runs = [e for e in list_audit(app.state, action="report_run") if e["details"]["report"] == name]
    assert len(runs) == 1 and runs[0]["details"]["rows"] == len(rows)
    created = list_audit(app.state, action="report_created")
    assert any(e["objectid"] == report_id for e in created)


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"source": "grades"}, "Unknown source 'grades'; choose one of: users, courses, "),
        ({"source": "users", "columns": ["pasword"]}, "Unknown field 'pasword' in columns[0]"),
        (
            {"source": "users", "columns": ["username"], "filters": [{"field": "city", "op": "~"}]},
            "Unknown op '~' in filters[0]; choose one of: =, !=, <, <=, >, >=, in,",
        ),
        (
            {"source": "users", "aggregates": [{"fn": "median", "field": "userid"}]},
            "Unknown aggregate 'median' in aggregates[0]; choose one of: count, count_distinct, "
            "sum, avg, min, max, percent.",
        ),
        (
            {"source": "users", "columns": [{"field": "lastaccess", "format": "ago"}]},
            "Unknown format 'ago' in columns[0]; choose one of: date, datetime, duration, "
            "number, percent.",
        ),
        (
            {"source": "users", "columns": ["username"], "order": ["username"]},
            "Unknown key 'order' in the report configuration (the keys are: source, columns,",
        ),
        (
            {"source": "users", "columns": [{"field": "username", "format": "date"}]},
            "columns[0]: format date needs a time field; username is text.",
        ),
        (
            {"source": "users", "aggregates": [{"fn": "percent", "field": "city"}]},
            "aggregates[0]: percent needs a yes/no field; city is text.",
        ),
    ],
)
def test_mistakes_exit_2_naming_the_key_and_the_choices(
    demo: dict[str, str], tmp_path: Path, cfg: dict[str, Any], message: str
) -> None:
    described = tmp_path / "bad.json"
    described.write_text(json.dumps(cfg), encoding="utf-8")
    result = invoke("reports", "validate", "--config-file", str(described), env=demo)
    assert result.returncode == 2
    error = result.stderr.decode()
    assert message in error and "Traceback" not in error
    assert result.stdout == b""


@pytest.mark.parametrize("engine", ENGINES)
def test_hostile_values_are_only_values(engine: str, tmp_path: Path) -> None:
    for url in fresh_database(engine, tmp_path):
        build_demo(url, size="small", seed=7, anchor=date(2026, 6, 1))
        db = MoodleDB(url)
        try:
            base = {"source": "users", "columns": ["username"], "sort": ["username"]}
            everyone = build_configured_sql(base, engine=db.engine_name)
            all_users = db.fetch_all(everyone.sql, everyone.params)
            assert len(all_users) > 300
            for value in HOSTILE:
                for op, expected in (("=", []), ("like", []), ("!=", all_users)):
                    cfg = {**base, "filters": [{"field": "username", "op": op, "value": value}]}
                    query = build_configured_sql(cfg, engine=db.engine_name)
                    harmless = {**base, "filters": [{"field": "username", "op": op, "value": "a"}]}
                    # The SQL does not depend on the value at all; the value is only bound.
                    assert query.sql == build_configured_sql(harmless, engine=db.engine_name).sql
                    bound = value.lower() if op == "like" else value
                    assert query.params == {"p0": bound}
                    assert db.fetch_all(query.sql, query.params) == expected, (value, op)
                listed = {
                    **base,
                    "filters": [{"field": "city", "op": "in", "values": [value, "x"]}],
                }
                query = build_configured_sql(listed, engine=db.engine_name)
                assert db.fetch_all(query.sql, query.params) == []
        finally:
            db.dispose()


def test_a_scope_marker_in_a_value_does_not_widen_the_scope(demo: dict[str, str]) -> None:
    learner = _a_learner(demo)
    described = {
        "source": "enrolments",
        "columns": ["username", "course_shortname"],
        "filters": [{"field": "username", "op": "!=", "value": "%%SCOPE%%"}],
        "sort": ["course_shortname"],
    }
    app = App(load_config(environ=demo))
    try:
        save_custom_report(
            app.state,
            name="scope in a value",
            config=described,
            validator=make_validator(app.config, app.moodle),
        )
        prepared = prepare_report(app, ReportRequest("scope in a value", as_user=learner))
        assert prepared.params["p0"] == "%%SCOPE%%"
        rows = _run_json(app, ReportRequest("scope in a value", as_user=learner))
    finally:
        app.moodle.dispose()
    assert rows and {row["username"] for row in rows} == {learner}


def _a_learner(demo: dict[str, str]) -> str:
    """A demo user enrolled in two courses or more who manages and teaches nothing."""
    db = MoodleDB(demo["MANIREPORTS_MOODLE_URL"])
    try:
        rows = db.fetch_all(
            "SELECT u.username FROM mdl_user u JOIN mdl_user_enrolments ue ON ue.userid = u.id "
            "WHERE u.deleted = 0 AND u.id NOT IN (SELECT userid FROM mdl_company_users "
            "WHERE managertype > 0) AND u.id NOT IN (SELECT ra.userid FROM mdl_role_assignments "
            "ra JOIN mdl_role r ON r.id = ra.roleid WHERE r.shortname <> 'student') "
            "GROUP BY u.username HAVING COUNT(*) > 1 ORDER BY u.username"
        )
    finally:
        db.dispose()
    return str(rows[0][0])


def test_show_sql_prints_the_built_query(demo: dict[str, str], tmp_path: Path) -> None:
    described = tmp_path / "show.toml"
    described.write_text(
        'source = "enrolments"\ngroup_by = ["enrol_method"]\n'
        'aggregates = [{ fn = "count", as = "n" }]\n'
        'filters = [{ field = "enrolled", op = ">=", value = 2026-03-01 }]\n',
        encoding="utf-8",
    )
    created = invoke(
        "reports", "create", "--name", "shown", "--config-file", str(described), env=demo
    )
    assert created.returncode == 0, created.stderr
    shown = invoke("run-report", "shown", "--show-sql", env=demo)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout.decode()
    assert "FROM mdl_user_enrolments AS ue JOIN mdl_enrol AS e" in text
    assert "GROUP BY e.enrol" in text and "%%SCOPE%%" not in text
    # 2026-03-01 00:00 in Europe/London (GMT, UTC+0) is 1772323200.
    assert "nullif(ue.timecreated, 0) >= :p0" in text and '"p0": 1772323200' in text


def test_every_step_is_audited(demo: dict[str, str], tmp_path: Path) -> None:
    first = tmp_path / "first.toml"
    first.write_text('source = "courses"\ncolumns = ["course_shortname"]\n', encoding="utf-8")
    second = tmp_path / "second.json"
    second.write_text(
        json.dumps({"source": "enrolments", "columns": ["username"], "limit": 3}),
        encoding="utf-8",
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"source": "users", "columns": ["secret"]}), encoding="utf-8")
    steps = [
        ("reports", "create", "--name", "audited", "--config-file", str(first)),
        ("run-report", "audited", "-f", "csv"),
        ("reports", "update", "audited", "--config-file", str(second)),
        ("reports", "create", "--name", "refused", "--config-file", str(bad)),
        ("reports", "update", "audited", "--config-file", str(bad)),
    ]
    results = [invoke(*step, env=demo) for step in steps]
    assert [result.returncode for result in results] == [0, 0, 0, 2, 2]
    report_id = int(results[0].stdout)
    # The deny list now covers a table the report reads: the run is refused and audited.
    strict = {**demo, "MANIREPORTS_REPORTS_DENIED_TABLES": "user_enrolments"}
    refused_run = invoke("run-report", "audited", env=strict)
    assert refused_run.returncode == 2
    assert "Rejected (denied table): {user_enrolments}" in refused_run.stderr.decode()
    assert invoke("reports", "delete", "audited", env=demo).returncode == 0
    listed = invoke("audit", "list", "-f", "json", env=demo)
    assert listed.returncode == 0, listed.stderr
    entries = [
        e
        for e in json.loads(listed.stdout)
        if (e["objecttype"] == "customreport" and e["objectid"] == report_id)
        or e["details"].get("name") == "refused"
        or (e["objecttype"] == "report" and e["details"]["report"] == "audited")
    ]
    actions = sorted(e["action"] for e in entries)
    assert actions == sorted(
        [
            "report_created",
            "report_run",
            "report_updated",
            "report_refused",  # create with an unknown field
            "report_refused",  # update with an unknown field
            "report_refused",  # run under the stricter deny list
            "report_deleted",
        ]
    )
    refusals = [e for e in entries if e["action"] == "report_refused"]
    reasons = " ".join(json.dumps(e) for e in refusals)
    assert "Unknown field 'secret' in columns[0]" in reasons and "denied table" in reasons


def test_the_reference_names_every_key_source_field_op_aggregate_and_format() -> None:
    reference = (REPO / "docs" / "config-reports.md").read_text(encoding="utf-8")
    names = [*CONFIG_KEYS, *OPS, *AGGREGATES, *FORMATS, *SOURCES, *SOURCE_ALIASES]
    names += [name for source in SOURCES.values() for name in source.fields]
    missing = sorted({name for name in names if f"`{name}`" not in reference})
    assert missing == []


def test_examples_return_rows_on_a_demo_built_on_another_day(tmp_path: Path) -> None:
    """The examples use days counted back from the run, so a demo built on any day (the demo's
    history ends on the day it is built) gives rows, not an empty file."""
    url = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    build_demo(url, size="small", seed=1, anchor=date(2027, 3, 1))
    state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    StateDB(state_url).upgrade()
    app = App(
        load_config(environ={"MANIREPORTS_MOODLE_URL": url, "MANIREPORTS_STATE_URL": state_url})
    )
    try:
        for path in EXAMPLES:
            name = f"example {path.stem}"
            save_custom_report(
                app.state,
                name=name,
                config=load_report_config(path),
                validator=make_validator(app.config, app.moodle),
            )
            assert _run_json(app, ReportRequest(name, as_of="2027-03-01 00:00")), path.name
    finally:
        app.moodle.dispose()


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("today", "2027-03-01"),
        ("yesterday", "2027-02-28"),
        ("30 days ago", "2027-01-30"),
        ("2 weeks ago", "2027-02-15"),
        ("1 month ago", "2027-02-01"),
        ("6 Months ago", "2026-09-01"),
        ("1 year ago", "2026-03-01"),
    ],
)
def test_relative_days_are_the_days_counted_back_from_the_run(value: str, day: str) -> None:
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    now = int(datetime(2027, 3, 1, 12, 0, tzinfo=london).timestamp())

    def bounds(filter_value: str) -> list[Any]:
        cfg = {
            "source": "users",
            "columns": ["username"],
            "filters": [{"field": "lastaccess", "op": "=", "value": filter_value}],
        }
        query = build_configured_sql(cfg, engine="sqlite", timezone=london, now=now)
        return sorted(v for k, v in query.params.items() if k != "now")

    assert bounds(value) == bounds(day)
