"""Dashboard figures on a hand-made site, on every engine, with the values worked out by hand;
and custom dashboards: create, list, show, render, and refusals.

The site's "now" is --as-of 2026-03-15 12:00 UTC, so the compared months are 2026-02 (current)
and 2026-01 (previous).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from manireports.app import App
from manireports.config import load_config
from manireports.dashboard import DashboardRequest, build_dashboard
from manireports.dashboard.model import Chart, Kpi, Table
from manireports.dashboard.sources import Ask, Sources
from manireports.reports.collect import Record
from manireports.state import StateDB, list_audit, list_runs
from manireports.state.tables import usertime_daily
from tests.cli_runner import invoke
from tests.moodle_site import MoodleSite

AS_OF = "2026-03-15 12:00"


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.fixture
def env(db_url: str, state_db_url: str, tmp_path: Path) -> dict[str, str]:
    return build_site(db_url, tmp_path, state_db_url)


@pytest.fixture
def sqlite_env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    return build_site(sqlite_url, tmp_path, f"sqlite:///{tmp_path / 's.db'}")


def build_site(db_url: str, tmp_path: Path, state_db_url: str) -> dict[str, str]:
    site = MoodleSite(db_url)
    site.insert("config", name="enablecompletion", value="1")
    course_a, course_b = site.course("A"), site.course("B")
    company = site.insert("company", name="Acme", shortname="acme", city="", country="")
    users = {name: site.user(name) for name in ("ann", "bob", "cat", "dan")}
    # Enrolments: ann in 2026-01; bob and cat in 2026-02; dan in course B in 2026-02.
    site.enrol(users["ann"], course_a, timecreated=at("2026-01-10 09:00"))
    site.enrol(users["bob"], course_a, timecreated=at("2026-02-05 09:00"))
    site.enrol(users["cat"], course_a, timecreated=at("2026-02-20 09:00"))
    site.enrol(users["dan"], course_b, timecreated=at("2026-02-21 09:00"))
    # ann completes A in 2026-02; bob completes A in 2026-03 (after the compared months).
    site.complete(users["ann"], course_a, at("2026-02-10 10:00"))
    site.complete(users["bob"], course_a, at("2026-03-02 10:00"))
    for name in ("ann", "bob", "cat"):
        site.insert("company_users", companyid=company, userid=users[name], departmentid=0)
    boss = site.user("boss")
    site.insert("company_users", companyid=company, userid=boss, departmentid=0, managertype=1)
    site.dispose()
    # The state never shares the Moodle database (manireports refuses that).
    state_url = state_db_url
    state = StateDB(state_url)
    state.upgrade()
    # Time tracked: 2026-01 ann 600 s; 2026-02 ann 3600 s and bob 1800 s, in course A.
    with state.begin() as connection:
        connection.execute(
            sa.insert(usertime_daily),
            [
                {
                    "userid": users["ann"],
                    "courseid": course_a,
                    "date": day,
                    "duration": seconds,
                    "sessioncount": 1,
                    "lastupdated": 0,
                }
                for day, seconds in (("2026-01-20", 600), ("2026-02-03", 3600))
            ]
            + [
                {
                    "userid": users["bob"],
                    "courseid": course_a,
                    "date": "2026-02-04",
                    "duration": 1800,
                    "sessioncount": 1,
                    "lastupdated": 0,
                }
            ],
        )
    state.close()
    return {
        "MANIREPORTS_MOODLE_URL": db_url,
        "MANIREPORTS_STATE_URL": state_url,
        "MANIREPORTS_SITE_TIMEZONE": "UTC",
    }


def dashboard(env: dict[str, str], **request: object) -> dict[str, object]:
    app = App(load_config(environ=env))
    try:
        built, hit = build_dashboard(app, DashboardRequest(as_of=AS_OF, **request))  # type: ignore[arg-type]
    finally:
        app.moodle.dispose()
    assert not hit
    return {w.title + ("" if w.kind == "kpi" else f" {w.kind}"): w for w in built.widgets}


def test_kpis_and_deltas_worked_out_by_hand(env: dict[str, str]) -> None:
    widgets = dashboard(env)
    figures = {title: (w.value, w.previous) for title, w in widgets.items() if isinstance(w, Kpi)}
    # Active users: 2026-02 ann and bob = 2; 2026-01 ann = 1.
    # Enrolments: 2026-02 bob, cat, dan = 3; 2026-01 ann = 1.
    # Completions: 2026-02 ann = 1; 2026-01 none = 0.
    # Time spent: 2026-02 3600 + 1800 = 5400 s; 2026-01 600 s.
    # Average progress: no activity counts, so only completed courses have a value, 100:
    # now ann and bob -> 100; at the end of 2026-02 bob had not completed -> ann alone -> 100.
    assert figures == {
        "Active users": (2, 1),
        "Enrolments": (3.0, 1.0),
        "Completions": (1.0, 0.0),
        "Time spent": (5400.0, 600.0),
        "Average progress": (100.0, 100.0),
        "Learners at risk": (2, 3),  # worked out below
    }
    assert widgets["Enrolments"].delta == 2.0  # type: ignore[union-attr]
    # Learners at risk, default [analytics] settings (30-day window; time below 60 min, never
    # accessed, completion below 25 %, engagement below 30, each +25; at risk from 50).
    # Now (window 2026-02-13 to 03-15): nobody has tracked time in it and nobody has a
    # user_lastaccess row, so "low time" and "no recent access" fire for everyone. ann and bob
    # have completed A, so their progress is 100 %: completion input 1.0 x weight 0.3 = an
    # engagement of 30.0, not below 30. cat and dan score 0 and "low engagement" fires too.
    # ann 50, bob 50, cat 75, dan 75: four flagged, but ann and bob completed A, and a learner
    # who completed a course is not at risk in it: two at risk.
    # End of 2026-02 (window 01-30 to 02-28): ann has 3600 s = 60 min, not below 60, and her
    # engagement is 40 (completion 1.0 x 0.3, time 3600 / 10800 s floor x 0.3), so only "no
    # recent access" fires: 25, not at risk. bob has 1800 s (low time) and completes only in
    # March, so no activity or course completion counts: his weights are the other three scaled
    # to sum 1 (time 0.3 / 0.7), 1800 / 10800 x 0.429 = 7.1, low: 75. cat 75, dan 75: three.
    risk = widgets["Learners at risk"]
    assert isinstance(risk, Kpi)
    assert (risk.value, risk.previous) == (2, 3)
    assert risk.better == "down"  # fewer learners at risk is the better way
    flagged = widgets["Learners at risk table"]
    assert isinstance(flagged, Table)
    assert [(row[0], row[2], row[3]) for row in flagged.rows] == [
        ("cat", 75, "low_time, no_recent_access, low_engagement"),
        ("dan", 75, "low_time, no_recent_access, low_engagement"),
    ]
    # Completion by course: A 2 of 3 tracked learners = 66.7 %; B 0 of 1 = 0 %.
    bars = widgets["Completion by course chart"]
    assert isinstance(bars, Chart)
    assert (bars.labels, bars.series[0].values) == (["A", "B"], [66.7, 0.0])
    courses = widgets["Courses table"]
    assert isinstance(courses, Table)
    assert courses.rows == [["A", 3, 2, 66.7, 100.0], ["B", 1, 0, 0.0, None]]


def test_a_manager_sees_their_company_only(env: dict[str, str]) -> None:
    widgets = dashboard(env, as_user="boss")
    # dan (course B, not of Acme) is out: enrolments 2026-02 bob, cat = 2; 2026-01 ann = 1.
    assert (widgets["Enrolments"].value, widgets["Enrolments"].previous) == (2.0, 1.0)  # type: ignore[union-attr]
    courses = widgets["Courses table"]
    assert isinstance(courses, Table) and [row[0] for row in courses.rows] == ["A"]
    companies = widgets["Companies table"]
    assert isinstance(companies, Table) and [row[0] for row in companies.rows] == ["Acme"]


def test_each_report_a_dashboard_reads_is_one_recorded_run(env: dict[str, str]) -> None:
    dashboard(env)
    state = StateDB(env["MANIREPORTS_STATE_URL"])
    try:
        runs = list(reversed(list_runs(state)))
        views = list_audit(state, action="dashboard_view")
    finally:
        state.close()
    # The site dashboard's reports; the states (progress, learners at risk) twice: now and at
    # the end of the last full month. Two are read at a time, so their order varies.
    assert sorted((r["report"], r["paramsjson"]["as_of"]) for r in runs) == [
        ("at_risk", "2026-02-28 23:59:59"), ("at_risk", AS_OF), ("company_overview", AS_OF),
        ("completion_trends", AS_OF), ("course_progress", "2026-02-28 23:59:59"),
        ("course_progress", AS_OF), ("enrolment_trends", AS_OF), ("time_spent", AS_OF),
    ]  # fmt: skip
    for run in runs:
        assert (run["status"], run["format"], run["error"]) == ("completed", None, None)
        assert run["paramsjson"]["for"] == "dashboard"
    # Rows as run-report counts them: 12 months of trends, 4 learner-course pairs.
    counts = {(r["report"], r["paramsjson"]["as_of"]): r["rowcount"] for r in runs}
    assert counts[("enrolment_trends", AS_OF)] == counts[("completion_trends", AS_OF)] == 12
    assert counts[("course_progress", AS_OF)] == 4
    assert len(views) == 1


def test_a_report_stopped_at_max_rows_says_so_in_its_run(env: dict[str, str]) -> None:
    dashboard({**env, "MANIREPORTS_REPORTS_MAX_ROWS": "3"})
    state = StateDB(env["MANIREPORTS_STATE_URL"])
    try:
        capped = list_runs(state, report="course_progress", limit=1)[0]
    finally:
        state.close()
    assert (capped["rowcount"], capped["error"]) == (3, "stopped at [reports] max_rows = 3 rows")


def test_a_failure_stops_the_reports_read_alongside_and_none_is_left_running(
    sqlite_env: dict[str, str],
) -> None:
    def boom(rows: Iterator[Record]) -> None:
        for _ in rows:
            raise ValueError("the panel could not use this row")

    app = App(
        load_config(environ={**sqlite_env, "MANIREPORTS_REPORTS_DASHBOARD_PARALLEL_REPORTS": "2"})
    )
    sources = Sources(app, None, None, AS_OF, use_cache=False)
    asks = [Ask("enrolment_trends", list), Ask("course_progress", boom), Ask("at_risk", list)]
    try:
        with pytest.raises(ValueError, match="could not use"):
            sources.fold_all(asks)
    finally:
        app.moodle.dispose()
    state = StateDB(sqlite_env["MANIREPORTS_STATE_URL"])
    try:
        runs = {r["report"]: r for r in list_runs(state)}
    finally:
        state.close()
    assert runs["course_progress"]["status"] == "failed"
    assert "could not use" in runs["course_progress"]["error"]
    # The at_risk run never started or ended at its first row: either way nothing is running.
    assert {r["status"] for r in runs.values()} <= {"completed", "failed"}


@pytest.mark.parametrize("at_once", ["1", "3"])
def test_reading_reports_at_once_or_in_turn_gives_the_same_dashboard(
    sqlite_env: dict[str, str], at_once: str
) -> None:
    def figures(widgets: dict[str, object]) -> dict[str, object]:
        return {title: widget.__dict__ for title, widget in widgets.items()}

    default = figures(dashboard(sqlite_env))
    other = figures(
        dashboard({**sqlite_env, "MANIREPORTS_REPORTS_DASHBOARD_PARALLEL_REPORTS": at_once})
    )
    assert other == default
    assert default["Learners at risk"]["value"] == 2  # type: ignore[index]


CUSTOM = """
title = "Course A at a glance"

[[widgets]]
type = "kpi"
title = "Enrolments, latest month"
report = "enrolment_trends"
column = "count"
aggregate = "last"

[[widgets]]
type = "bar"
title = "Learners per course"
report = "course_completion"
x = "course_shortname"

[[widgets]]
type = "table"
title = "Who completed"
report = "course_completion"
columns = ["username", "course_shortname", "completed"]
sort = "username"
"""


def test_custom_dashboards(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "glance.toml"
    path.write_text(CUSTOM, encoding="utf-8")
    created = invoke("dashboard", "create", "--file", str(path), env=env)
    assert created.returncode == 0, created.stderr
    dashboard_id = created.stdout.decode().strip()
    listed = json.loads(invoke("dashboard", "list", "-f", "json", env=env).stdout)
    assert [(d["id"], d["title"], d["widgets"]) for d in listed] == [
        (int(dashboard_id), "Course A at a glance", 3)
    ]
    shown = json.loads(invoke("dashboard", "show", dashboard_id, env=env).stdout)
    assert [w["type"] for w in shown["widgets"]] == ["kpi", "bar", "table"]
    assert shown["widgets"][2]["limit"] == 50  # the default, filled in
    done = invoke("dashboard", "--id", dashboard_id, "--as-of", AS_OF, "-f", "terminal", env=env)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    # Latest month 2026-03 has no enrolment (0), the month before 3: a change of -3.
    assert "Course A at a glance" in text and "-3 (the last row" in text
    # Two widgets read course_completion with the same parameters: one run feeds both.
    state = StateDB(env["MANIREPORTS_STATE_URL"])
    try:
        assert [r["report"] for r in reversed(list_runs(state))] == [
            "enrolment_trends",
            "course_completion",
        ]
    finally:
        state.close()
    # Learners per course: A 3, B 1; the table lists ann, bob, cat, dan in order.
    assert "A" in text and "█" in text
    assert text.index("ann") < text.index("bob") < text.index("cat") < text.index("dan")
    # As cat (a learner), the same dashboard shows cat's own row only.
    mine = invoke(
        "dashboard",
        "--id",
        dashboard_id,
        "--as-of",
        AS_OF,
        "--as-user",
        "cat",
        "-f",
        "terminal",
        env=env,
    ).stdout.decode()
    assert "cat" in mine and "ann" not in mine and "dan" not in mine


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("title = 'x'\nwidgets = []\n", ".toml", "non-empty list of widgets"),
        ('{"title": "x", "widgets": [{"type": "gauge", "report": "a"}]}', ".json", "`type`"),
        ("title = 'x'\n[[widgets]]\ntype = 'kpi'\nreport = 'nope'\n", ".toml", "no report called"),
        (
            "title = 'x'\n[[widgets]]\ntype = 'table'\nreport = 'course_completion'\n"
            "columns = ['grade']\nwidht = 6\n",
            ".toml",
            "no column 'grade'",
        ),
        ("title = [\n", ".toml", "not valid TOML"),
        (
            "title = 'x'\ncolour = 'red'\n"
            "[[widgets]]\ntype = 'kpi'\nreport = 'course_completion'\n",
            ".toml",
            "Unknown key 'colour' in the definition (the keys are: title, description, company,",
        ),
        (
            '{"title": "x", "widgets": [{"type": "table", "report": "course_completion",'
            ' "widht": 6, "colums": ["course"]}]}',
            ".json",
            "Unknown keys 'widht', 'colums' in widget 1, a table widget (the keys are: type,",
        ),
    ],
)
def test_bad_definitions_are_refused(
    sqlite_env: dict[str, str], tmp_path: Path, content: str, suffix: str, message: str
) -> None:
    # The checks of the file do not depend on the engine: SQLite only.
    env = sqlite_env
    path = tmp_path / f"bad{suffix}"
    path.write_text(content, encoding="utf-8")
    done = invoke("dashboard", "create", "--file", str(path), env=env)
    assert done.returncode == 2
    assert message in done.stderr.decode() and b"Traceback" not in done.stderr
    assert str(path) in done.stderr.decode()
    assert json.loads(invoke("dashboard", "list", "-f", "json", env=env).stdout) == []


def test_a_dashboard_cached_by_another_version_still_loads() -> None:
    from manireports.dashboard.model import Dashboard

    stored = {
        "title": "Site dashboard", "role": "admin", "viewer": "operator", "company": None,
        "generated": "2026-03-15 12:00:00", "timezone": "UTC", "notices": ["an old field"],
        "widgets": [
            {"kind": "kpi", "title": "Enrolments", "value": 3.0, "unit": "count",
             "previous": 1.0, "note": "", "width": 3, "unavailable": None},
            {"kind": "table", "title": "Courses", "columns": ["Course"], "rows": [["A"]],
             "numeric": [False], "note": None, "width": 12, "unavailable": None},
        ],
    }  # fmt: skip
    loaded = Dashboard.from_json(stored)
    kpi, table = loaded.widgets
    assert isinstance(kpi, Kpi) and (kpi.value, kpi.previous, kpi.delta) == (3.0, 1.0, 2.0)
    assert isinstance(table, Table) and table.rows == [["A"]]
    assert loaded.to_json()["widgets"][0]["title"] == "Enrolments"


def test_the_terminal_dashboard_shows_names_as_text() -> None:
    """Course names are data: `[old] Induction` stays as written and an ESC is shown escaped."""
    import io

    from manireports.cli.dashboard import _print_dashboard
    from manireports.dashboard.model import Dashboard

    stored = {
        "title": "Site [red]dashboard[/red]", "role": "admin", "viewer": "op[b]", "company": None,
        "generated": "2026-03-15 12:00:00", "timezone": "UTC",
        "widgets": [
            {"kind": "kpi", "title": "[old] Enrolments", "value": 3.0, "unit": "count",
             "previous": 1.0, "note": "", "width": 3, "unavailable": None},
            {"kind": "table", "title": "Courses", "columns": ["Course"],
             "rows": [["[old] Induction"], ["evil\x1b[2Jname"]],
             "numeric": [False], "note": "a [b] c", "width": 12, "unavailable": None},
        ],
    }  # fmt: skip
    stream = io.StringIO()
    _print_dashboard(Dashboard.from_json(stored), stream, colour=True)
    shown = stream.getvalue()
    for text in ("Site [red]dashboard[/red]", "op[b]", "[old] Enrolments", "[old] Induction"):
        assert text in shown
    assert "a [b] c" in shown
    assert "evil\\x1b[2Jname" in shown
    assert "\x1b[2J" not in shown


@pytest.mark.parametrize("as_of", [AS_OF, None])
@pytest.mark.parametrize(("viewer", "pair_queries"), [(None, 0), ("boss", 2)])
def test_a_dashboard_reads_the_learners_and_the_log_once_per_moment(
    sqlite_env: dict[str, str], as_of: str | None, viewer: str | None, pair_queries: int
) -> None:
    """The at-risk runs take the rows course_progress read at the same moment as the same
    viewer (its SQL, scope included, is what the at-risk learners are read with), so the
    database sees that query once per moment: now and the end of last month. A company
    manager's at-risk runs also need the other learners of their courses, for the course
    references, and read them as bare (user, course) pairs: one query per moment more, which
    carries the tracked-learner rule but no progress columns. Without --as-of the dashboard's
    runs share the moment it was asked for, or they could not share the query.

    The log is read once too: one scan counts the engagement windows of both at-risk moments
    (read ahead, alongside the course progress runs) and each at-risk run takes its own."""
    app = App(load_config(environ=sqlite_env))
    sent: list[str] = []

    def trace(dbapi: object, _record: object) -> None:
        dbapi.set_trace_callback(sent.append)  # type: ignore[attr-defined]

    sa.event.listen(app.moodle.engine, "connect", trace)
    try:
        built, _ = build_dashboard(
            app, DashboardRequest(as_of=as_of, as_user=viewer, use_cache=False)
        )
    finally:
        app.moodle.dispose()
    progress = sum("AS activities_completed" in statement for statement in sent)
    tracked = sum("isincompletionreports" in statement for statement in sent)
    assert (progress, tracked - progress) == (2, pair_queries)
    assert sum("logstore_standard_log" in statement for statement in sent) == 1
    kpis = {w.title: w for w in built.widgets if isinstance(w, Kpi)}
    if as_of is not None:
        # At 2026-03-15 ann and bob have completed A; cat (A) and dan (B) are at risk. The
        # manager's company holds ann, bob and cat: one.
        assert kpis["Learners at risk"].value == (2 if viewer is None else 1)


def test_nothing_the_dashboard_read_is_still_reading_when_it_returns(
    sqlite_env: dict[str, str],
) -> None:
    """The log scan read ahead for the at-risk runs is waited for before the dashboard returns,
    whether or not a run took its counts: no connection of it is left open (it would keep the
    database busy, or undroppable, after the command)."""
    app = App(load_config(environ=sqlite_env))
    try:
        build_dashboard(app, DashboardRequest(as_of=AS_OF, use_cache=False))
        assert app.moodle.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        app.moodle.dispose()
