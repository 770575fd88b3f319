"""A custom report keeps its ORDER BY for a restricted user, on every engine.

Scoping wraps custom SQL in a derived table, whose ORDER BY MariaDB drops. The property checked
here: the rows a restricted user gets are the operator's rows, in the same relative order, kept to
the ones that user may see. The site is inserted in an order unlike any the reports ask for, so
an order that is lost shows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manireports.app import App
from manireports.config import load_config
from manireports.errors import ManiReportsError
from manireports.reports.operator.custom import get_custom_report, save_custom_report
from manireports.reports.run import ReportRequest, prepare_report
from manireports.sqlcheck.site import make_validator
from tests.cli_runner import run_cli
from tests.conftest import ENGINES, fresh_database
from tests.moodle_site import MoodleSite
from tests.schedule_support import Inbox, SmtpServer, attachment, environment, free_port

LEARNERS = 14
BASE = """SELECT ue.userid, e.courseid, u.username, c.shortname
  FROM {user_enrolments} ue
  JOIN {enrol} e ON e.id = ue.enrolid
  JOIN {user} u ON u.id = ue.userid
  JOIN {course} c ON c.id = e.courseid
  LEFT JOIN {course_completions} cc ON cc.userid = ue.userid AND cc.course = e.courseid
 WHERE u.username <> 'tina'"""
# ORDER BY terms a report may use; most are not output columns.
TERMS = (
    "ue.timecreated",
    "u.lastname",
    "u.firstname",
    "u.lastaccess",
    "cc.timecompleted",
    "COALESCE(cc.timecompleted, 0)",
    "LOWER(u.username)",
    "LOWER(username)",
    "c.shortname",
    "shortname",
    "2",
    "(SELECT COUNT(*) FROM {user_enrolments} x WHERE x.userid = ue.userid)",
)
# A last term that makes the order total, so that the operator's order is one order.
TIEBREAKS = ("ue.id", "ue.id DESC", "1, 2", "ue.userid DESC, e.courseid")


@pytest.fixture(scope="module", params=ENGINES)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    tmp_path = tmp_path_factory.mktemp(f"order_{request.param}")
    databases = fresh_database(request.param, tmp_path)
    url = next(databases)
    moodle = MoodleSite(url)
    chance = random.Random(11)
    courses = [moodle.course(name) for name in ("A", "B", "C")]
    tina = moodle.user("tina", email="tina@school.example")
    for course in courses[:2]:
        moodle.assign(tina, moodle.course_context(course), "editingteacher")
    company = moodle.insert("company", name="Acme", shortname="acme", city="", country="")
    mona = moodle.user("mona", email="mona@school.example")
    moodle.insert("company_users", companyid=company, userid=mona, departmentid=0, managertype=1)
    # Mixed case and repeated last names, so that collations and tiebreaks matter.
    surnames = ["smith", "Smith", "adams", "Zhou", "brown", "Brown", "Élan"]
    numbers = list(range(LEARNERS))
    chance.shuffle(numbers)
    times = chance.sample(range(1_700_000_000, 1_700_900_000, 1000), 3 * LEARNERS)
    for number in numbers:
        user = moodle.user(
            f"learner{number:02d}",
            lastname=surnames[number % len(surnames)],
            firstname=f"F{chance.randrange(100):02d}",
            lastaccess=chance.randrange(1_700_000_000, 1_800_000_000),
        )
        if number % 2:
            moodle.insert("company_users", companyid=company, userid=user, departmentid=0)
        for course in chance.sample(courses, chance.randint(1, 3)):
            moodle.enrol(user, course, timecreated=times.pop())
            if chance.random() < 0.6:
                moodle.complete(user, course, times.pop() if chance.random() < 0.7 else None)
    moodle.dispose()
    env = {
        "MANIREPORTS_MOODLE_URL": url,
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "MANIREPORTS_SITE_TIMEZONE": "UTC",
        "ENGINE": request.param,
        "TMP": str(tmp_path),
    }
    assert run_cli("db", "upgrade", env=env).returncode == 0
    yield env
    next(databases, None)


def report_name(sql: str) -> str:
    return "q" + hashlib.sha1(sql.encode()).hexdigest()[:16]


def run(site: dict[str, str], sql: str, as_user: str | None = None) -> tuple[list[Any], list[str]]:
    """The rows `run-report` exports for this SQL (saved as a custom report), and the notices."""
    notices: list[str] = []
    app = App(load_config(environ=site), notice=notices.append)
    name = report_name(sql)
    try:
        if get_custom_report(app.state, name) is None:
            validator = make_validator(app.config, app.moodle)
            save_custom_report(app.state, name=name, sql=sql, validator=validator)
        prepared = prepare_report(app, ReportRequest(name, as_user=as_user))
        with app.moodle.stream(prepared.sql, prepared.params) as stream:
            return [tuple(row) for row in stream.rows], notices
    finally:
        app.moodle.dispose()


def assert_kept(site: dict[str, str], sql: str, as_user: str) -> list[Any]:
    everything, _ = run(site, sql)
    scoped, notices = run(site, sql, as_user)
    assert notices == []
    assert 0 < len(scoped) < len(everything)
    assert set(scoped) <= set(everything)
    allowed = set(scoped)
    assert scoped == [row for row in everything if row in allowed]
    return scoped


@settings(max_examples=12, deadline=None)
@given(
    terms=st.lists(
        st.tuples(st.sampled_from(TERMS), st.booleans()), min_size=1, max_size=3, unique=True
    ),
    tiebreak=st.sampled_from(TIEBREAKS),
)
def test_scoped_rows_keep_the_operators_order(
    site: dict[str, str], terms: list[tuple[str, bool]], tiebreak: str
) -> None:
    order = ", ".join(f"{term}{' DESC' if desc else ''}" for term, desc in terms)
    assert_kept(site, f"{BASE}\n ORDER BY {order}, {tiebreak}", "tina")


@pytest.mark.parametrize("manager", ["tina", "mona"])
def test_newest_first_by_a_column_the_report_does_not_show(
    site: dict[str, str], manager: str
) -> None:
    scoped = assert_kept(site, f"{BASE}\n ORDER BY ue.timecreated DESC", manager)
    # The newest first indeed: the operator's rows are, and these are some of them in order.
    assert len(scoped) > 2


def test_nulls_and_collation(site: dict[str, str]) -> None:
    engine = site["ENGINE"]
    collation = {"mariadb": "utf8mb4_bin", "postgresql": '"C"', "sqlite": "NOCASE"}[engine]
    assert_kept(site, f"{BASE}\n ORDER BY u.lastname COLLATE {collation} DESC, ue.id", "tina")
    if engine != "mariadb":  # MariaDB has no NULLS FIRST.
        order = "cc.timecompleted DESC NULLS LAST, ue.id"
        assert_kept(site, f"{BASE}\n ORDER BY {order}", "tina")
        assert_kept(site, f"{BASE}\n ORDER BY cc.timecompleted NULLS FIRST, 1, 2", "tina")


def test_an_inner_limit_stays_inside(site: dict[str, str]) -> None:
    sql = f"{BASE}\n ORDER BY ue.timecreated DESC, ue.id LIMIT 12"
    everything, _ = run(site, sql)
    scoped, _ = run(site, sql, "tina")
    assert len(everything) == 12
    assert scoped == [row for row in everything if row in set(scoped)]


@pytest.mark.parametrize("direction", ["", " DESC"])
def test_ordered_by_an_aggregate(site: dict[str, str], direction: str) -> None:
    # One direction or the other is not the order of the course ids.
    sql = f"""SELECT e.courseid, c.shortname
  FROM {{user_enrolments}} ue
  JOIN {{enrol}} e ON e.id = ue.enrolid
  JOIN {{course}} c ON c.id = e.courseid
 GROUP BY e.courseid, c.shortname
 ORDER BY COUNT(*){direction}, MAX(ue.timecreated){direction}"""
    assert_kept(site, sql, "tina")


DISTINCT = """SELECT DISTINCT u.id AS userid, u.username
  FROM {user} u
  JOIN {user_enrolments} ue ON ue.userid = u.id
 ORDER BY u.lastaccess DESC"""


def test_distinct_behaves_as_it_does_unscoped(site: dict[str, str]) -> None:
    if site["ENGINE"] == "postgresql":
        # PostgreSQL refuses to order DISTINCT rows by what they do not show, scoped or not.
        for as_user in (None, "mona"):
            with pytest.raises(ManiReportsError, match="DISTINCT"):
                run(site, DISTINCT, as_user)
    else:
        assert_kept(site, DISTINCT, "mona")
    with_position = DISTINCT.replace("DESC", "DESC, 2")
    if site["ENGINE"] != "postgresql":
        assert_kept(site, with_position, "mona")


def test_union_is_ordered_by_its_outputs(site: dict[str, str]) -> None:
    branch = "SELECT u.id AS userid, u.username, u.lastaccess AS seen FROM {user} u WHERE "
    union = f"{branch}u.lastname = 'smith' UNION {branch}u.lastname = 'Brown'"
    assert_kept(site, f"{union} ORDER BY seen DESC", "mona")
    if site["ENGINE"] == "mariadb":  # Only MariaDB orders a UNION by an expression.
        assert_kept(site, f"{union} ORDER BY -seen, 1", "mona")


def test_an_order_that_cannot_be_kept_is_said(site: dict[str, str]) -> None:
    if site["ENGINE"] == "postgresql":
        pytest.skip("PostgreSQL reads output names in an ORDER BY expression as input columns")
    sql = (
        "SELECT u.id AS userid, u.lastaccess AS seen FROM {user} u "
        "ORDER BY COALESCE(seen, u.firstaccess) DESC"
    )
    _, notices = run(site, sql, "mona")
    assert len(notices) == 1 and "ORDER BY cannot be kept" in notices[0]
    done = run_cli("run-report", report_name(sql), "--as-user", "mona", "-f", "csv", env=site)
    assert done.returncode == 0, done.stderr
    assert b"ORDER BY cannot be kept" in done.stderr


def test_a_schedule_sends_its_recipient_the_rows_in_order(site: dict[str, str]) -> None:
    tmp = Path(site["TMP"]) / f"schedule{random.randrange(10**9)}"
    tmp.mkdir()
    inbox = Inbox()
    server = SmtpServer(inbox, free_port())
    server.start()
    try:
        env = environment(tmp, tmp / "unused.sqlite", site["MANIREPORTS_STATE_URL"], server.port)
        env["MANIREPORTS_MOODLE_URL"] = site["MANIREPORTS_MOODLE_URL"]
        env["MANIREPORTS_SITE_TIMEZONE"] = "UTC"
        sql = f"{BASE}\n ORDER BY ue.timecreated DESC"
        path = tmp / "newest.sql"
        path.write_text(sql, encoding="utf-8")
        name = f"Newest {tmp.name}"
        created = run_cli("reports", "create", "--name", name, "--sql-file", str(path), env=env)
        assert created.returncode == 0, created.stderr
        added = run_cli(
            "schedule", "add", "--report", name, "--name", name, "--frequency", "daily",
            "--at", "02:30", "--start", "2026-01-05 02:30", "--format", "csv",
            "--recipient", "tina", env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        done = run_cli("jobs", "run-due", env=env)
        assert done.returncode == 0, done.stderr
        (message,) = inbox.to("tina@school.example")
        data = attachment(message)[1].removeprefix(b"\xef\xbb\xbf").decode()
        sent = [
            (int(r["userid"]), int(r["courseid"]), r["username"], r["shortname"])
            for r in csv.DictReader(io.StringIO(data))
        ]
    finally:
        server.stop()
    everything, _ = run(site, sql)
    assert 0 < len(sent) < len(everything)
    assert sent == [row for row in everything if row in set(sent)]
