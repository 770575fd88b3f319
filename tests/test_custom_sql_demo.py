"""Custom SQL as report_customsql users write it, through the command line on the demo site in
MariaDB and PostgreSQL: every query of the corpus is validated, created and run, and its rows are
compared with the same SQL run directly through SQLAlchemy; every spelling that reaches a password
hash or a site secret is refused, and no hash ever reaches the output."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from manireports.app import App
from manireports.config import load_config
from manireports.demo import build_demo
from manireports.sqlcheck import RULES, SQLRejectedError
from manireports.sqlcheck.site import make_validator
from manireports.state import StateDB
from manireports.state import tables as t
from tests.cli_runner import invoke
from tests.conftest import fresh_database

WWWROOT = "https://learn.example.org"
SERVERS = ("mariadb", "postgresql")
DENIED = ("password", "secret")


@dataclass
class Demo:
    kind: str
    url: str
    env: dict[str, str]
    tmp: Path
    engine: sa.Engine
    hashes: list[str] = field(default_factory=list)

    def cli(self, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
        done = invoke(*args, env={**self.env, **(env or {})})
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def sql_file(self, name: str, sql: str) -> str:
        path = self.tmp / f"{name}.sql"
        path.write_text(sql, encoding="utf-8")
        return str(path)

    def direct(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of the SQL run directly, `{name}` written as the prefixed table."""
        text = sql
        for table in _tables_in(sql):
            text = text.replace("{" + table + "}", "mdl_" + table)
        with self.engine.connect() as connection:
            result = connection.execute(sa.text(text), dict(params or {}))
            return [dict(row) for row in result.mappings()]


def _tables_in(sql: str) -> set[str]:
    return set(re.findall(r"\{([a-z][a-z0-9_]*)\}", sql))


@pytest.fixture(scope="module", params=SERVERS)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    tmp = tmp_path_factory.mktemp(f"customsql-{request.param}")
    for url in fresh_database(request.param, tmp):
        build_demo(url, size="small", seed=11, anchor=date(2026, 6, 1))
        StateDB(f"sqlite:///{tmp / 'state.sqlite'}").upgrade()
        env = {
            "MANIREPORTS_MOODLE_URL": url,
            "MANIREPORTS_STATE_URL": f"sqlite:///{tmp / 'state.sqlite'}",
            "MANIREPORTS_MOODLE_WWWROOT": WWWROOT,
            "MANIREPORTS_SITE_TIMEZONE": "UTC",
        }
        engine = sa.create_engine(url)
        site = Demo(request.param, url, env, tmp, engine)
        with engine.connect() as connection:
            site.hashes = [
                str(value)
                for (value,) in connection.execute(
                    sa.text("SELECT password FROM mdl_user WHERE password <> ''")
                )
            ]
        assert len(site.hashes) > 10  # the demo's users have bcrypt-shaped hashes to leak
        try:
            yield site
        finally:
            engine.dispose()


def _plain(value: Any) -> Any:
    """A database value as the JSON export writes it."""
    if isinstance(value, Decimal):
        return float(value) if value % 1 else int(value)
    return value


def _fill(value: Any) -> Any:
    if isinstance(value, str):
        for token, text in (("%%WWWROOT%%", WWWROOT), ("%%Q%%", "?"), ("%%C%%", ":")):
            value = value.replace(token, text)
        return value.replace("%%S%%", ";")
    return value


# -- the corpus: queries people keep, in the shape they write them -----------------------------


@dataclass(frozen=True)
class Query:
    name: str
    sql: str
    params: dict[str, str] = field(default_factory=dict)
    # The values the same SQL binds when run directly (dates as Unix time, worked out by hand).
    direct: dict[str, Any] = field(default_factory=dict)
    servers: tuple[str, ...] = SERVERS
    left_out: tuple[str, ...] = ()


MAY_1 = int(datetime(2026, 5, 1, tzinfo=UTC).timestamp())  # 1777593600
MAY_15 = int(datetime(2026, 5, 15, tzinfo=UTC).timestamp())

CORPUS = [
    Query(
        "course links",
        "SELECT c.id, c.shortname,\n"
        "       CONCAT('%%WWWROOT%%/course/view.php%%Q%%id=', c.id) AS link\n"
        "  FROM {course} c\n WHERE c.id > 1\n ORDER BY c.id",
    ),
    Query(
        "profile links with every token",
        "SELECT u.id, u.username,\n"
        "       CONCAT('%%WWWROOT%%/user/profile.php%%Q%%id=', u.id) AS profile,\n"
        "       CONCAT('user%%C%% ', u.username, '%%S%%') AS label\n"
        "  FROM {user} u\n WHERE u.deleted = 0 AND u.id > 2\n ORDER BY u.id",
    ),
    Query(
        "events between date-named parameters",
        "SELECT COUNT(*) AS events\n  FROM {logstore_standard_log} l\n"
        " WHERE l.timecreated >= :date_from AND l.timecreated < :enddate",
        params={"date_from": "2026-05-01", "enddate": "2026-05-15"},
        direct={"date_from": MAY_1, "enddate": MAY_15},
    ),
    Query(
        "active users since a date, CTE",
        "WITH recent AS (\n  SELECT l.userid, COUNT(*) AS n FROM {logstore_standard_log} l\n"
        "   WHERE l.timecreated >= :datestart GROUP BY l.userid\n)\n"
        "SELECT u.username, r.n FROM recent r JOIN {user} u ON u.id = r.userid\n"
        " ORDER BY r.n DESC, u.username",
        params={"datestart": "2026-05-01 00:00"},
        direct={"datestart": MAY_1},
    ),
    Query(
        "every user, star",
        "SELECT * FROM {user} WHERE deleted = 0 ORDER BY id",
        left_out=("user.password", "user.secret"),
    ),
    Query(
        "enrolments with the user's star",
        "SELECT u.*, ue.timestart\n  FROM {user} u\n"
        "  JOIN {user_enrolments} ue ON ue.userid = u.id\n ORDER BY ue.id",
        left_out=("user.password", "user.secret"),
    ),
    Query(
        "prefixed qualifiers of allowed columns",
        "SELECT mdl_course.id, mdl_course.fullname FROM {course} WHERE mdl_course.id > 1 "
        "ORDER BY mdl_course.id",
    ),
    Query(
        "enrolments per course",
        "SELECT c.shortname AS course, COUNT(ue.id) AS enrolments\n  FROM {course} c\n"
        "  JOIN {enrol} e ON e.courseid = c.id\n  JOIN {user_enrolments} ue ON ue.enrolid = e.id\n"
        " GROUP BY c.shortname\n ORDER BY c.shortname",
    ),
    Query(
        "string alias, MySQL style",
        "SELECT c.id AS 'Course id', c.fullname AS 'Full name' FROM {course} c ORDER BY c.id",
        servers=("mariadb",),
    ),
    Query(
        "quoted alias, PostgreSQL style",
        'SELECT c.id AS "Course id", c.fullname AS "Full name" FROM {course} c ORDER BY c.id',
        servers=("postgresql",),
    ),
]


@pytest.mark.parametrize("query", CORPUS, ids=[query.name for query in CORPUS])
def test_the_corpus_validates_creates_and_runs_like_the_raw_client(
    demo: Demo, query: Query
) -> None:
    if demo.kind not in query.servers:
        pytest.skip(f"{query.name} is written for {', '.join(query.servers)}")
    path = demo.sql_file(query.name.replace(" ", "_"), query.sql)
    code, out, err = demo.cli("reports", "validate", "--sql-file", path)
    assert code == 0, err
    assert out.startswith("Valid.")
    for column in query.left_out:
        assert column in err  # the note names what the star leaves out
    name = f"{query.name} ({demo.kind})"
    code, out, err = demo.cli("reports", "create", "--name", name, "--sql-file", path)
    assert code == 0, err
    params = [arg for key, value in query.params.items() for arg in ("--param", f"{key}={value}")]
    code, out, err = demo.cli("run-report", name, *params, "--format", "json")
    assert code == 0, err
    got = json.loads(out)
    expected = [
        {key: _fill(_plain(value)) for key, value in row.items() if key not in DENIED}
        for row in demo.direct(query.sql, query.direct)
    ]
    assert got == expected
    assert got  # every query of the corpus has rows on the demo
    for column in query.left_out:
        assert column in err
    for value in demo.hashes:
        assert value not in out


def test_tokens_make_links_with_the_site_url(demo: Demo) -> None:
    sql = CORPUS[0].sql
    code, out, err = demo.cli("reports", "validate", "--sql-file", demo.sql_file("links", sql))
    assert code == 0, err
    demo.cli(
        "reports",
        "create",
        "--name",
        f"links {demo.kind}",
        "--sql-file",
        demo.sql_file("links", sql),
    )
    code, out, err = demo.cli("run-report", f"links {demo.kind}", "--format", "json")
    rows = json.loads(out)
    assert rows[0]["link"] == f"{WWWROOT}/course/view.php?id={rows[0]['id']}"


def test_wwwroot_missing_is_refused_naming_the_key(demo: Demo) -> None:
    path = demo.sql_file("links_nowww", CORPUS[0].sql)
    code, _out, err = demo.cli(
        "reports", "validate", "--sql-file", path, env={"MANIREPORTS_MOODLE_WWWROOT": ""}
    )
    assert code == 2
    assert "[moodle] wwwroot" in err and "Traceback" not in err


def test_wwwroot_from_config_php(demo: Demo) -> None:
    """The site URL comes from config.php when manireports reads the database settings there."""
    url = sa.make_url(demo.url)
    config_php = demo.tmp / "config.php"
    dbtype = "mariadb" if demo.kind == "mariadb" else "pgsql"
    config_php.write_text(
        "<?php\nunset($CFG);\nglobal $CFG;\n$CFG = new stdClass();\n"
        f"$CFG->dbtype = '{dbtype}';\n$CFG->dblibrary = 'native';\n"
        f"$CFG->dbhost = '{url.host}';\n$CFG->dbname = '{url.database}';\n"
        f"$CFG->dbuser = '{url.username}';\n$CFG->dbpass = '{url.password or ''}';\n"
        f"$CFG->prefix = 'mdl_';\n$CFG->dboptions = array('dbport' => {url.port or ''!r});\n"
        "$CFG->wwwroot = 'https://moodle.school.test/lms';\n",
        encoding="utf-8",
    )
    env = {
        "MANIREPORTS_MOODLE_URL": "",
        "MANIREPORTS_MOODLE_WWWROOT": "",
        "MANIREPORTS_MOODLE_CONFIG_PHP": str(config_php),
    }
    sql = (
        "SELECT CONCAT('%%WWWROOT%%/course/view.php%%Q%%id=', c.id) AS link "
        "FROM {course} c WHERE c.id = 1"
    )
    name = f"config.php links {demo.kind}"
    code, _out, err = demo.cli(
        "reports", "create", "--name", name, "--sql-file", demo.sql_file("cfg", sql), env=env
    )
    assert code == 0, err
    code, out, err = demo.cli("run-report", name, "--format", "json", env=env)
    assert code == 0, err
    assert json.loads(out) == [{"link": "https://moodle.school.test/lms/course/view.php?id=1"}]


# -- date parameters ------------------------------------------------------------------------------


def test_a_date_named_parameter_binds_the_date_not_the_text(demo: Demo) -> None:
    sql = "SELECT COUNT(*) AS n FROM {logstore_standard_log} WHERE timecreated >= :date_from"
    name = f"since {demo.kind}"
    code, _out, err = demo.cli(
        "reports", "create", "--name", name, "--sql-file", demo.sql_file("since", sql)
    )
    assert code == 0, err
    code, out, err = demo.cli(
        "run-report", name, "--param", "date_from=2026-05-01", "--format", "json"
    )
    assert code == 0, err
    (row,) = json.loads(out)
    (total,) = demo.direct("SELECT COUNT(*) AS n FROM {logstore_standard_log}")
    (since,) = demo.direct(sql, {"date_from": MAY_1})
    assert row["n"] == since["n"] < total["n"]


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "01/05/2026", ""])
def test_a_date_that_does_not_parse_is_refused(demo: Demo, value: str) -> None:
    sql = "SELECT COUNT(*) AS n FROM {course} WHERE timecreated >= :date_from"
    name = f"bad date {demo.kind}"
    demo.cli("reports", "create", "--name", name, "--sql-file", demo.sql_file("bad", sql))
    code, out, err = demo.cli("run-report", name, "--param", f"date_from={value}")
    assert code == 2
    assert "date_from" in err and "YYYY-MM-DD" in err and out == ""


# -- refusals at validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "servers", "needles"),
    [
        (
            "SELECT u.id, c.id FROM {user} u JOIN {course} c ON c.id = u.id",
            SERVERS,
            ["duplicate column names", "named id"],
        ),
        (
            "SELECT c.*, cc.* FROM {course} c JOIN {course_categories} cc ON cc.id = c.category",
            SERVERS,
            ["duplicate column names", "id"],
        ),
        (
            "SELECT c.id AS 'Course id' FROM {course} c",
            ("postgresql",),
            ["line 1, column 16", 'AS "Course id"'],
        ),
        ("SELECT plugin, name, value FROM {config_plugins}", SERVERS, ["[reports] denied_tables"]),
        (
            "SELECT id,\n       fullname\n  FRM {course} c",
            SERVERS,
            ["line 3, column 7", "{course}"],
        ),
    ],
)
def test_refused_when_validating(
    demo: Demo, sql: str, servers: tuple[str, ...], needles: list[str]
) -> None:
    if demo.kind not in servers:
        pytest.skip("another server's case")
    path = demo.sql_file("refused", sql)
    code, out, err = demo.cli("reports", "validate", "--sql-file", path)
    assert code == 2 and out == ""
    for needle in needles:
        assert needle in err
    assert "Traceback" not in err and "sqlglot" not in err and "<class" not in err
    code, _out, err = demo.cli("reports", "create", "--name", "never stored", "--sql-file", path)
    assert code == 2


# -- the qualifier bypass -------------------------------------------------------------------------

BYPASSES = [
    ("SELECT mdl_user.username, mdl_user.password FROM {user}", SERVERS),
    ("SELECT `mdl_user`.`password` FROM {user}", ("mariadb",)),
    ('SELECT "mdl_user"."password" FROM {user}', ("postgresql",)),
    ("SELECT {db}.mdl_user.password FROM {user}", ("mariadb",)),
    ("SELECT public.mdl_user.password FROM {user}", ("postgresql",)),
    ("SELECT mdl_user.* FROM {user}", SERVERS),
    ("SELECT c.id, mdl_external_tokens.token FROM {course} c", SERVERS),
    ("SELECT c.id, mdl_sessions.userid FROM {course} c", SERVERS),
    ("SELECT mdl_config.value FROM {course}", SERVERS),
    ("SELECT row_to_json(mdl_user) FROM {user}", ("postgresql",)),
    ("SELECT to_jsonb(u) FROM {user} u", ("postgresql",)),
    ("SELECT u::text FROM {user} u", ("postgresql",)),
    ("SELECT (u).password FROM {user} u", ("postgresql",)),
]


@pytest.mark.parametrize(("sql", "servers"), BYPASSES, ids=[b[0] for b in BYPASSES])
def test_no_spelling_reads_a_hash(demo: Demo, sql: str, servers: tuple[str, ...]) -> None:
    """Each spelling is refused, or (a star) listed out without the denied columns; stored
    behind the validator's back, it is checked again before it runs: no hash leaves."""
    if demo.kind not in servers:
        pytest.skip("another server's syntax")
    sql = sql.replace("{db}", sa.make_url(demo.url).database or "")
    app = App(load_config(environ=demo.env))
    try:
        checked = make_validator(app.config, app.moodle)(sql)
        assert "password" not in checked.sql and "*" not in checked.sql
    except SQLRejectedError as refusal:
        assert refusal.rule in RULES
    finally:
        app.moodle.dispose()
    name = f"planted {abs(hash(sql))}"
    with StateDB(demo.env["MANIREPORTS_STATE_URL"]).begin() as connection:
        connection.execute(
            sa.insert(t.customreports).values(
                name=name, type="sql", sqlquery=sql, createdby=0, timecreated=1, timemodified=1
            )
        )
    code, out, err = demo.cli("run-report", name, "--format", "json")
    if code == 0:
        assert "user.password" in err  # the star was listed out, and said so
        assert all("password" not in row and "secret" not in row for row in json.loads(out))
    else:
        assert code == 2 and out == "" and "Rejected (" in err
    for value in demo.hashes:
        assert value not in out and value not in err
