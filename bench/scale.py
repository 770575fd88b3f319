"""Every built-in report, both analytics commands and every role's dashboard on one database.

    python bench/scale.py --url mysql+pymysql://root@127.0.0.1/mr_bench_large \\
        [--state-url sqlite:////tmp/state.sqlite] [--only course_completion ...] [--repeat 1] \\
        [--checkout /path/to/another/checkout]

Each command runs as a child process writing to a file (bench/harness.py): the table gives its
seconds, its peak resident memory (the child's ru_maxrss) and its ratio to floors measured in the
same run on the same database (CPU s is the command's own processor time, user + system; a
client's excludes the server's work):
  * sql: the report's own SQL, parameters written in, through the raw client (`mariadb -B`,
    `psql` with COPY ... TO STDOUT, the `sqlite3` shell), i.e. what the database alone costs;
  * bare: for the two learner reports, the bare join yielding the same learner-course pairs
    (enrolments, users, courses, completions; no role check, no company, no progress counts)
    through the same raw client, i.e. what reading that many rows costs at the least.
Reports computed in Python (time_spent, the analytics) and the dashboards have no single query,
so no floor. A fresh state first gets the site's time tracked (`time sync`, `time aggregate`, both
timed and shown), as on a site that runs the hourly jobs; --no-time-tracking leaves it empty.
On MySQL/MariaDB the reports run with PyMySQL, the two learner reports also with mysqlclient
when it is installed. --checkout runs another checkout's manireports (its code and
SQL, this bench) so a change can be compared with what it replaces on the same database.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import measure  # noqa: E402
from manireports.app import App  # noqa: E402
from manireports.config import load_config  # noqa: E402
from manireports.reports.builtin import BUILTIN_REPORTS  # noqa: E402
from manireports.sqltext import expand_tables, strip_comments  # noqa: E402

# The learner-course pairs of course_completion and course_progress, with nothing they add.
BARE_JOIN = """
SELECT u.id, u.username, u.firstname, u.lastname, u.email, c.id, c.shortname, c.fullname,
       ue.timestart, cc.timecompleted
  FROM {user_enrolments} ue
  JOIN {enrol} e ON e.id = ue.enrolid AND e.status = 0
  JOIN {course} c ON c.id = e.courseid AND c.enablecompletion = 1
  JOIN {user} u ON u.id = ue.userid AND u.deleted = 0
  LEFT JOIN {course_completions} cc ON cc.userid = ue.userid AND cc.course = c.id
 WHERE ue.status = 0
 ORDER BY ue.id
"""
BARE_REPORTS = ("course_completion", "course_progress")

# One user per dashboard role on the demo: (label, SQL giving a username).
ROLE_USERS = (
    ("admin", "SELECT username FROM {user} WHERE username = 'admin'"),
    (
        "company manager",
        "SELECT u.username FROM {user} u JOIN {company_users} cu ON cu.userid = u.id"
        " WHERE cu.managertype = 1 AND u.deleted = 0 ORDER BY u.id",
    ),
    (
        "department manager",
        "SELECT u.username FROM {user} u JOIN {company_users} cu ON cu.userid = u.id"
        " WHERE cu.managertype = 2 AND u.deleted = 0 ORDER BY u.id",
    ),
    (
        "teacher",
        "SELECT u.username FROM {user} u JOIN {role_assignments} ra ON ra.userid = u.id"
        " JOIN {role} r ON r.id = ra.roleid JOIN {context} x ON x.id = ra.contextid"
        " WHERE r.shortname = 'editingteacher' AND x.contextlevel = 50 AND u.deleted = 0"
        " ORDER BY u.id",
    ),
    (
        "student",
        "SELECT u.username FROM {user} u JOIN {role_assignments} ra ON ra.userid = u.id"
        " JOIN {role} r ON r.id = ra.roleid WHERE r.shortname = 'student' AND u.deleted = 0"
        " AND u.suspended = 0 AND u.username <> 'admin' ORDER BY u.id",
    ),
)


@dataclass(frozen=True)
class Row:
    label: str
    seconds: float
    peak_mb: float
    cpu_seconds: float
    sql_floor: float | None = None
    bare_floor: float | None = None


def raw_client(url: sa.URL, sql: str) -> list[str]:
    """The database's own command-line client writing the query's rows to stdout."""
    backend = url.get_backend_name()
    if backend == "mysql":
        client = shutil.which("mariadb") or shutil.which("mysql")
        if client is None:
            raise SystemExit("the mariadb client is needed for the floors")
        return [
            client, "-B", "-h", url.host or "127.0.0.1", "-P", str(url.port or 3306),
            "-u", url.username or "root", *([f"-p{url.password}"] if url.password else []),
            url.database or "", "-e", sql,
        ]  # fmt: skip
    if backend == "postgresql":
        client = shutil.which("psql")
        if client is None:
            raise SystemExit("psql is needed for the floors")
        copy = f"COPY ({sql}) TO STDOUT WITH CSV HEADER"
        return [
            client, "-X", "-q", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
            "-U", url.username or "postgres", "-d", url.database or "", "-c", copy,
        ]  # fmt: skip
    client = shutil.which("sqlite3")
    if client is None:
        raise SystemExit("the sqlite3 shell is needed for the floors")
    return [client, "-csv", "-header", url.database or "", sql]


def plain_sql(checkout: Path, url: str, report: str) -> str:
    """The report's SQL as the checkout being measured writes it, parameters as literals, as a
    command-line client takes it."""
    code = (
        "import sys; from bench.report_bench import literal_sql; "
        "sys.stdout.write(literal_sql(sys.argv[1], sys.argv[2]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url, report],
        cwd=checkout,
        env=dict(os.environ, PYTHONPATH=str(checkout)),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    sql = done.stdout
    if sa.make_url(url).get_backend_name() == "mysql":
        sql = sql.replace("%%", "%")  # the pyformat drivers' escaping, which a client lacks
    # Without comments: a client given a query starting with `--` takes it for an option.
    return strip_comments(sql).strip().rstrip(";")


def role_users(url: str) -> list[tuple[str, str]]:
    """(role, username) for each dashboard role that the site has a user for."""
    app = App(load_config(environ={"MANIREPORTS_MOODLE_URL": url}))
    prefix, aliases = app.moodle.prefix, app.site.table_aliases()
    engine = sa.create_engine(url)
    found: list[tuple[str, str]] = []
    with engine.connect() as connection:
        for role, query in ROLE_USERS:
            if "company_users" in query and "iomad" not in app.site.flags:
                continue
            name = connection.execute(sa.text(expand_tables(query, prefix, aliases))).scalar()
            if name is not None:
                found.append((role, str(name)))
    engine.dispose()
    return found


def server_memory(url: str) -> str:
    """What the database server keeps in memory, which decides whether the log is read from its
    own cache or page by page: MariaDB's default 128 MB buffer pool holds an eighth of the large
    demo's log table."""
    backend = sa.make_url(url).get_backend_name()
    queries = {
        "mysql": "SELECT CONCAT('innodb_buffer_pool_size ', @@innodb_buffer_pool_size DIV 1048576,"
        " ' MB')",
        "postgresql": "SELECT 'shared_buffers ' || current_setting('shared_buffers')",
    }
    if backend not in queries:
        return "embedded (SQLite, the operating system's cache)"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(sa.text(queries[backend])).scalar())
    finally:
        engine.dispose()


def drivers(url: sa.URL) -> list[str]:
    if url.get_backend_name() != "mysql":
        return [""]
    names = ["pymysql"]
    if importlib.util.find_spec("MySQLdb") is not None:
        names.append("mysqlclient")
    return names


def python_floors(
    url: sa.URL, sql: str, work: Path, timed: Callable[..., Row], bare: float
) -> list[Row]:
    """The bare join through each driver and a plain csv.writer loop (bench/python_floor.py),
    with and without SQLAlchemy imported first: what a Python command cannot go below."""
    query = work / "bare.sql"
    query.write_text(sql, encoding="utf-8")
    backend = url.get_backend_name()
    names = {"postgresql": ["psycopg"], "sqlite": ["sqlite3"]}.get(backend) or drivers(url)
    if backend == "sqlite":
        plain = url.database or ""
    else:
        plain = url.set(drivername=backend).render_as_string(hide_password=False)
    found: list[Row] = []
    for driver in names:
        argv = [sys.executable, str(REPO / "bench" / "python_floor.py"), plain, driver]
        for imported in (False, True):
            label = f"bare join, {driver} + csv.writer" + (" + SQLAlchemy" if imported else "")
            command = [*argv, str(work / "floor.csv"), *(["--sqlalchemy"] if imported else [])]
            row = timed(label, command, stdin=str(query))
            found.append(Row(row.label, row.seconds, row.peak_mb, row.cpu_seconds, None, bare))
    return found


def wanted(name: str, only: Sequence[str] | None) -> bool:
    return not only or name in only


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the Moodle database (a demo)")
    parser.add_argument("--state-url", help="manireports' state database (default: a fresh one)")
    parser.add_argument("--only", nargs="*", help="only these reports, analytics or dashboards")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--checkout", type=Path, default=REPO, help="the manireports to run")
    parser.add_argument(
        "--no-time-tracking",
        dest="time_tracking",
        action="store_false",
        help="leave the fresh state without time tracked (the analytics then sessionize the log)",
    )
    args = parser.parse_args()

    url = sa.make_url(args.url)
    work = Path(tempfile.mkdtemp(prefix="mr-bench-scale-"))
    env = dict(os.environ, PYTHONPATH=str(args.checkout.resolve()), MANIREPORTS_MOODLE_URL=args.url)
    env["MANIREPORTS_STATE_URL"] = args.state_url or f"sqlite:///{work / 'state.sqlite'}"
    env["MANIREPORTS_JOBS_LOCK_DIR"] = str(work / "locks")
    cli = [sys.executable, "-m", "manireports", "-q"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, cwd=args.checkout)
    print(f"server: {server_memory(args.url)}", file=sys.stderr)
    output = str(work / "out")
    prefix = App(load_config(environ={"MANIREPORTS_MOODLE_URL": args.url})).moodle.prefix
    bare_sql = expand_tables(BARE_JOIN, prefix).strip()
    rows: list[Row] = []

    def timed(
        label: str, argv: list[str], extra: dict[str, str] | None = None, stdin: str = os.devnull
    ) -> Row:
        try:
            result = measure(
                label,
                argv,
                repeat=args.repeat,
                env={**env, **(extra or {})},
                stdout_path=output,
                stdin_path=stdin,
            )
        except RuntimeError as exc:  # shown, and the table goes on
            print(f"  {label}: failed: {exc}", file=sys.stderr)
            return Row(f"{label} (failed)", float("nan"), float("nan"), float("nan"))
        print(f"  {label}: {result.seconds:.2f} s, {result.peak_mb:.0f} MB", file=sys.stderr)
        return Row(label, result.seconds, result.peak_mb, result.cpu_seconds)

    if args.time_tracking and not args.state_url:
        # A site running manireports syncs and aggregates time hourly; the analytics and the
        # dashboards read those daily totals. Built once here, on the fresh state, and shown.
        rows.append(timed("time sync (first, from scratch)", [*cli, "time", "sync"]))
        rows.append(timed("time aggregate", [*cli, "time", "aggregate"]))
    bare: Row | None = None
    for name, report in BUILTIN_REPORTS.items():
        if not wanted(name, args.only) or name in ("user_engagement", "at_risk"):
            continue
        sql_floor: float | None = None
        bare_floor: float | None = None
        if report.produce is None:
            try:
                sql = plain_sql(args.checkout, args.url, name)
            except RuntimeError as exc:  # a report this site cannot run (no IOMAD): no floor
                print(f"  {name}: no SQL floor ({exc})", file=sys.stderr)
            else:
                floor_row = timed(f"{name}: its SQL, raw client", raw_client(url, sql))
                rows.append(floor_row)
                sql_floor = floor_row.seconds if floor_row.seconds == floor_row.seconds else None
        if name in BARE_REPORTS:
            if bare is None:
                bare = timed("bare learner join, raw client", raw_client(url, bare_sql))
                rows.append(bare)
                rows.extend(python_floors(url, bare_sql, work, timed, bare.seconds))
            bare_floor = bare.seconds
        for driver in drivers(url) if name in BARE_REPORTS else drivers(url)[:1]:
            extra = {"MANIREPORTS_MOODLE_MYSQL_DRIVER": driver} if driver else {}
            label = f"{name} -f csv" + (f" ({driver})" if driver else "")
            command = [*cli, "run-report", name, "-f", "csv", "-o", f"{output}.csv"]
            measured = timed(label, command, extra)
            cpu = measured.cpu_seconds
            rows.append(Row(label, measured.seconds, measured.peak_mb, cpu, sql_floor, bare_floor))
    for command in ("engagement", "at-risk"):
        if wanted(command, args.only):
            rows.append(
                timed(f"analytics {command} -f csv", [*cli, "analytics", command, "-f", "csv"])
            )
    for role, username in role_users(args.url):
        if wanted(role, args.only) or wanted("dashboard", args.only):
            argv = [*cli, "dashboard", "--as-user", username, "--no-cache", "-o", f"{output}.html"]
            rows.append(timed(f"dashboard {role} ({username})", argv))
    print_rows(rows)


def print_rows(rows: Sequence[Row]) -> None:
    header = ("measurement", "seconds", "CPU s", "peak MB", "/ sql", "/ bare")
    print("| {:<52} | {:>8} | {:>7} | {:>7} | {:>6} | {:>6} |".format(*header))
    print(f"|{'-' * 54}|{'-' * 9}:|{'-' * 8}:|{'-' * 8}:|{'-' * 7}:|{'-' * 7}:|")
    for row in rows:
        floors = (row.sql_floor, row.bare_floor)
        ratios = [f"{row.seconds / floor:.2f}x" if floor else "" for floor in floors]
        print(
            f"| {row.label:<52} | {row.seconds:>8.2f} | {row.cpu_seconds:>7.2f} "
            f"| {row.peak_mb:>7.0f} | {ratios[0]:>6} | {ratios[1]:>6} |"
        )


if __name__ == "__main__":
    main()
