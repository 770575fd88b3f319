"""Measure `time sync` on a large synthetic standard log, against a floor and a SQL alternative.

    python bench/time_sync.py [--rows 5000000] [--url mysql+pymysql://root@127.0.0.1/]
                              [--keep] [--repeat 1] [--only NAME ...]

The log is written once into the database `mr_bench_timelog` (kept with --keep, so later runs skip
the minutes of loading) as Moodle writes it: ids in time order, a realistic mix of sessions of
users in courses and on the site, clicks seconds to minutes apart, 3% noise (cli, guest,
anonymous, 'logged in as'). The state database is `mr_bench_timestate` on the same server.

Measurements, each in its own child process (peak memory is its own):
- floor: stream the filtered (id, user, course, time) rows in id order, nothing else: the cost of
  reading the log, under any sessionization written in Python;
- python-sessionize: the same rows through the session builder, no state writes;
- sync-full: `time sync` from an empty state (first run on a site): read, sessionize, write;
- sync-incremental: `time sync` of the last 1% of the log after a sync of the rest (a day and
  more of events);
- sync-hour: the same with the last hour of events (the hourly cron run);
- aggregate-full: `time aggregate` of every day after the sync (the first aggregation);
- aggregate-day: `time aggregate --from D --to D` of one day a month before the end;
- sql-lag: sessions computed by MariaDB itself (LAG and a running SUM over (user, course) ordered
  by time, grouped), all sessions fetched; no incremental state, no writes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

from bench.harness import Measurement, measure, print_table  # noqa: E402

LOG_DB = "mr_bench_timelog"
STATE_DB = "mr_bench_timestate"
START = int(dt.datetime(2025, 9, 1, tzinfo=dt.UTC).timestamp())
DAYS = 180
NOISE = 0.03


def server_url(args: argparse.Namespace, database: str) -> str:
    return args.url.rstrip("/") + f"/{database}?charset=utf8mb4"


def log_url(args: argparse.Namespace) -> str:
    """The Moodle database holding the log: an existing site (--moodle-url), read only, or the
    synthetic one, through the driver of --url."""
    if not args.moodle_url:
        return server_url(args, LOG_DB)
    given = sa.make_url(args.moodle_url)
    driver = sa.make_url(args.url).drivername
    return given.set(drivername=driver).render_as_string(hide_password=False)


def state_url(args: argparse.Namespace) -> str:
    return server_url(args, args.state_db)


def synthetic_log(rows: int, seed: int = 7) -> Iterator[tuple[object, ...]]:
    """(id, userid, courseid, timecreated, origin, anonymous, realuserid) in time order, day by
    day: sessions of 1 to 60 clicks, 80% of gaps under the 10-minute timeout."""
    rng = random.Random(seed)
    users = max(100, rows // 250)
    courses = 300
    per_day = rows // DAYS + 1
    next_id = 1
    for day in range(DAYS):
        events: list[tuple[int, int, int]] = []
        while len(events) < per_day:
            user = rng.randrange(3, users + 3)
            course = rng.choice([0, 1]) if rng.random() < 0.15 else rng.randrange(2, courses + 2)
            moment = START + day * 86_400 + rng.randrange(0, 86_400)
            for _ in range(rng.randrange(1, 60)):
                events.append((moment, user, course))
                moment += rng.choice([2, 10, 30, 60, 120, 300]) if rng.random() < 0.8 else 700
        events.sort()
        for moment, user, course in events:
            if next_id > rows:
                return
            origin, anonymous, real, userid = "web", 0, None, user
            if rng.random() < NOISE:
                kind = rng.randrange(4)
                origin = "cli" if kind == 0 else "web"
                userid = 1 if kind == 1 else user
                anonymous = 1 if kind == 2 else 0
                real = 2 if kind == 3 else None
            yield next_id, userid, course, moment, origin, anonymous, real
            next_id += 1


def load_log(args: argparse.Namespace) -> int:
    """Create and fill the log database unless --keep finds it full; return its row count."""
    from manireports.moodle.schema import build_metadata

    admin = sa.create_engine(args.url)
    with admin.connect() as connection:
        exists = connection.execute(
            sa.text("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = :n"),
            {"n": LOG_DB},
        ).scalar_one()
    engine = sa.create_engine(server_url(args, LOG_DB).replace("+pymysql", "+mysqldb"))
    if exists and args.keep:
        with engine.connect() as connection:
            count = connection.execute(
                sa.text("SELECT COUNT(*) FROM mdl_logstore_standard_log")
            ).scalar_one()
        if count == args.rows:
            print(f"reusing {count:,} log rows in {LOG_DB}", file=sys.stderr)
            return int(count)
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {LOG_DB}"))
        connection.execute(sa.text(f"CREATE DATABASE {LOG_DB} CHARACTER SET utf8mb4"))
    metadata = build_metadata("mdl_", ["config", "course", "user", "logstore_standard_log"])
    metadata.create_all(engine)
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO mdl_config (name, value) VALUES ('siteguest', '1'), "
                "('version', '2024100700'), ('release', '4.5'), ('timezone', 'Europe/London')"
            )
        )
        course = metadata.tables["mdl_course"]
        row: dict[str, object] = {"id": 1, "category": 0, "shortname": "site", "format": "site"}
        for column in course.columns:
            if column.name not in row and not column.nullable and column.server_default is None:
                row[column.name] = 0 if isinstance(column.type, sa.Integer) else ""
        connection.execute(course.insert().values(**row))
    head = (
        "INSERT INTO mdl_logstore_standard_log (id, eventname, component, action, target, "
        "crud, edulevel, contextid, contextlevel, contextinstanceid, userid, courseid, "
        "anonymous, timecreated, origin, ip, realuserid) VALUES "
    )
    event = "'\\\\core\\\\event\\\\course_viewed', 'core', 'viewed', 'course', 'r', 2, 1, 50"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        values: list[str] = []
        for log_id, userid, course, moment, origin, anonymous, real in synthetic_log(args.rows):
            values.append(
                f"({log_id}, {event}, {course}, {userid}, {course}, {anonymous}, {moment}, "
                f"'{origin}', '10.0.0.1', {'NULL' if real is None else real})"
            )
            if len(values) == 5000:
                cursor.execute(head + ", ".join(values))
                values = []
                if log_id % 100_000 == 0:
                    raw.commit()
        if values:
            cursor.execute(head + ", ".join(values))
        raw.commit()
    finally:
        raw.close()
    print(
        f"loaded {args.rows:,} log rows in {time.perf_counter() - started:.0f} s", file=sys.stderr
    )
    return args.rows


def fresh_state(args: argparse.Namespace) -> str:
    from manireports.state import StateDB

    admin = sa.create_engine(args.url)
    with admin.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {args.state_db}"))
        connection.execute(sa.text(f"CREATE DATABASE {args.state_db} CHARACTER SET utf8mb4"))
    url = state_url(args)
    StateDB(url).upgrade()
    return url


def app_for(args: argparse.Namespace) -> object:
    from manireports.app import App
    from manireports.config import load_config

    environ = {
        "MANIREPORTS_MOODLE_URL": log_url(args),
        "MANIREPORTS_STATE_URL": state_url(args),
        "MANIREPORTS_SITE_TIMEZONE": "Europe/London",
        "MANIREPORTS_REPORTS_TIMEOUT_SECONDS": "3600",
    }
    return App(load_config(environ=environ))


NOW = START + (DAYS + 1) * 86_400
DRIVERS = ("pymysql", "mysqldb")


def child(args: argparse.Namespace) -> None:
    """One measurement, run in a child process by the parent."""
    from manireports.timetrack import aggregate_daily, sync_log
    from manireports.timetrack.engine import SessionBuilder
    from manireports.timetrack.sessions import LOG, TimeSettings
    from manireports.timetrack.sync import events_sql, log_source, max_log_id

    app = app_for(args)
    name = args.child
    now = args.now or NOW
    if name in ("floor", "python-sessionize"):
        settings = TimeSettings.from_config(app.config)  # type: ignore[attr-defined]
        source = log_source(app)  # type: ignore[arg-type]
        upto = max_log_id(app.moodle, source)  # type: ignore[attr-defined]
        sql, params = events_sql(source, settings, limit=100_000)
        builder = SessionBuilder(settings, LOG, now=now, horizon=-(10**9), maxtime=0)
        after, count = 0, 0
        while after < upto:
            chunk = 0
            last = after
            with app.moodle.stream(sql, {**params, "after": after, "upto": upto}) as stream:  # type: ignore[attr-defined]
                if name == "floor":
                    for last, _u, _c, _t in stream.rows:  # noqa: B007
                        chunk += 1
                else:
                    add = builder.add
                    for last, userid, courseid, moment in stream.rows:  # noqa: B007
                        add((userid, courseid), moment)
                        chunk += 1
            count += chunk
            after = upto if chunk < 100_000 else last
        print(count, len(builder.resident) + len(builder.pending))
    elif name in ("sync-full", "sync-incremental"):
        result = sync_log(app, now=now)  # type: ignore[arg-type]
        print(result)
    elif name == "sync-aggregate":
        print(sync_log(app, now=now))  # type: ignore[arg-type]
        print(aggregate_daily(app, now=now))  # type: ignore[arg-type]
    elif name == "aggregate-full":
        print(aggregate_daily(app, now=now))  # type: ignore[arg-type]
    elif name == "aggregate-day":
        day = dt.datetime.fromtimestamp(START + DAYS * 86_400 * 5 // 6, dt.UTC).date()
        print(aggregate_daily(app, date_from=day, date_to=day, now=now))  # type: ignore[arg-type]
    elif name == "sql-lag":
        count = sum(1 for _row in lag_sessions(args))
        print(count)
    else:  # pragma: no cover
        raise SystemExit(f"unknown measurement {name}")


LAG_SQL = """
SELECT userid, courseid, MIN(timecreated), MAX(timecreated), COUNT(*)
FROM (
    SELECT userid, courseid, timecreated,
           SUM(newsession) OVER (PARTITION BY userid, courseid ORDER BY timecreated, id
                                 ROWS UNBOUNDED PRECEDING) AS sessionno
    FROM (
        SELECT id, userid, courseid, timecreated,
               CASE WHEN timecreated - LAG(timecreated) OVER (
                        PARTITION BY userid, courseid ORDER BY timecreated, id) <= 600
                    THEN 0 ELSE 1 END AS newsession
        FROM (
            SELECT id, userid, timecreated,
                   CASE WHEN courseid IS NULL OR courseid IN (0, 1) THEN 0 ELSE courseid END
                       AS courseid
            FROM mdl_logstore_standard_log
            WHERE id > 0 AND anonymous = 0 AND (realuserid IS NULL OR realuserid = 0)
              AND userid > 0 AND userid <> 1 AND origin IN ('web')
        ) events
    ) marked
) numbered
GROUP BY userid, courseid, sessionno
"""


def lag_sessions(args: argparse.Namespace) -> Iterator[tuple[object, ...]]:
    import MySQLdb
    import MySQLdb.cursors

    url = sa.make_url(log_url(args))
    connection = MySQLdb.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=url.database,
    )
    cursor = connection.cursor(MySQLdb.cursors.SSCursor)
    cursor.execute(LAG_SQL)
    while True:
        rows = cursor.fetchmany(10_000)
        if not rows:
            break
        yield from rows
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument(
        "--url",
        default=os.environ.get("MANIREPORTS_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/"),
    )
    parser.add_argument("--keep", action="store_true", help="Reuse the log database if complete.")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument(
        "--verify",
        action="store_true",
        help="Afterwards, check the SQL sessions against the state the sync left.",
    )
    parser.add_argument(
        "--moodle-url",
        help="An existing Moodle database to read the log of (read only), such as a large demo; "
        "its driver is replaced by that of --url.",
    )
    parser.add_argument("--state-db", default=STATE_DB, help="State database (dropped first).")
    parser.add_argument(
        "--drivers", nargs="*", default=list(DRIVERS), help="MySQL drivers to run the sync with."
    )
    parser.add_argument("--now", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.moodle_url:
        demo(args)
        return
    load_log(args)
    base = [sys.executable, __file__, "--rows", str(args.rows), "--url", args.url, "--child"]
    wanted = args.only or [
        "floor",
        "python-sessionize",
        "sync-full",
        "sync-incremental",
        "sync-hour",
        "aggregate-full",
        "aggregate-day",
        "sql-lag",
    ]
    results: list[Measurement] = []
    floor: Measurement | None = None
    for name in wanted:
        if name == "sync-full":
            runs = []
            for _ in range(args.repeat):
                fresh_state(args)
                runs.append(measure(name, [*base, name], repeat=1))
            found = min(runs, key=lambda m: m.seconds)
        elif name == "sync-incremental":
            found = measure_incremental(args, base, tail=max(1, args.rows // 100), label=name)
        elif name == "sync-hour":
            # One hour of the log's events, synced by the real command as cron runs it: the
            # figure includes starting Python, imports and connecting to both databases.
            hour = max(1, args.rows // (DAYS * 24))
            command = [sys.executable, "-m", "manireports", "time", "sync"]
            found = measure_incremental(
                args, command, tail=hour, label=f"sync-hour, `time sync` ({hour:,} rows)"
            )
        elif name == "aggregate-full":
            # Every day of the log: the first aggregation after the first sync. It clears the
            # dirty range, so it runs once whatever --repeat says.
            found = measure(name, [*base, name], repeat=1)
        else:
            found = measure(name, [*base, name], repeat=args.repeat)
        print(f"{found.label}: {found.seconds:.2f} s, {found.peak_mb:.0f} MB", file=sys.stderr)
        if name == "floor":
            floor = found
        else:
            results.append(found)
    if args.verify:
        verify(args)
    print(f"\n{args.rows:,} log rows on {sa.make_url(args.url).get_backend_name()}")
    if floor is not None:
        print_table(floor, results)
    else:
        for item in results:
            print(f"{item.label:<52} {item.seconds:>9.2f} {item.peak_mb:>8.1f}")


def demo(args: argparse.Namespace) -> None:
    """An existing site's log: the SQL window pass, then the first `time sync` plus `time
    aggregate` with each driver, the hourly run, and the check that both passes agree.

    Every ratio is against the SQL pass measured in the same run."""
    engine = sa.create_engine(log_url(args))
    with engine.connect() as connection:
        last_id, last_time = connection.execute(
            sa.text("SELECT MAX(id), MAX(timecreated) FROM mdl_logstore_standard_log")
        ).one()
    engine.dispose()
    args.now = int(last_time) + 3600  # every session closed: the daily rows hold all the time

    def child_argv(driver: str, name: str) -> list[str]:
        url = sa.make_url(args.url).set(drivername=f"mysql+{driver}")
        return [
            *[sys.executable, __file__, "--url", url.render_as_string(hide_password=False)],
            *["--moodle-url", args.moodle_url, "--state-db", args.state_db],
            *["--now", str(args.now), "--child", name],
        ]

    wanted = args.only or ["sql-lag", "floor", "sync-aggregate", "sync-hour"]
    results: list[Measurement] = []
    lag: Measurement | None = None
    for name in wanted:
        if name == "sync-aggregate":
            for driver in args.drivers:
                fresh_state(args)
                label = f"sync+aggregate ({driver})"
                found = measure(label, child_argv(driver, name), repeat=1)
                print(f"{label}: {found.seconds:.2f} s, {found.peak_mb:.0f} MB", file=sys.stderr)
                results.append(found)
            if args.verify:
                verify(args)
            continue
        if name == "sync-hour":
            found = demo_hour(args, int(last_id) - 1000)
        else:
            found = measure(name, child_argv("mysqldb", name), repeat=args.repeat)
        print(f"{found.label}: {found.seconds:.2f} s, {found.peak_mb:.0f} MB", file=sys.stderr)
        if name == "sql-lag":
            lag = found
        else:
            results.append(found)
    print(f"\n{int(last_id):,} log rows in {sa.make_url(args.moodle_url).database}")
    if lag is not None:
        print_table(lag, results)


def demo_hour(args: argparse.Namespace, cut: int) -> Measurement:
    """`time sync` as cron runs it, after a sync of all but the newest 1,000 log rows."""
    from manireports.timetrack import sync_log

    fresh_state(args)
    prepared = sync_log(app_for(args), now=args.now, upto=cut)  # type: ignore[arg-type]
    print(f"  (prepared: {prepared})", file=sys.stderr)
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    environ.update(
        {
            "MANIREPORTS_MOODLE_URL": log_url(args),
            "MANIREPORTS_STATE_URL": state_url(args),
            "MANIREPORTS_SITE_TIMEZONE": "Europe/London",
        }
    )
    command = [sys.executable, "-m", "manireports", "time", "sync"]
    return measure("sync-hour, `time sync` (1,000 rows)", command, repeat=1, env=environ)


def verify(args: argparse.Namespace) -> None:
    """The sessions MariaDB's window functions find are the sessions the sync stored."""
    lag_count = lag_seconds = 0
    for _user, _course, first, last, events in lag_sessions(args):
        lag_count += 1
        lag_seconds += 0 if int(events) == 1 else int(last) - int(first)  # type: ignore[call-overload]
    engine = sa.create_engine(state_url(args))
    with engine.connect() as connection:
        count, seconds = connection.execute(
            sa.text(
                "SELECT COUNT(*), SUM(COALESCE(duration, lastupdated - sessionstart)) "
                "FROM manireports_usertime_sessions WHERE source = 'log'"
            )
        ).one()
        daily = connection.execute(
            sa.text("SELECT SUM(duration) FROM manireports_usertime_daily")
        ).scalar_one()
        stored = {
            tuple(int(value) for value in row)
            for row in connection.execute(
                sa.text(
                    "SELECT userid, courseid, sessionstart, lastupdated, eventcount "
                    "FROM manireports_usertime_sessions WHERE source = 'log'"
                )
            )
        }
    engine.dispose()
    found = {tuple(int(value) for value in row) for row in lag_sessions(args)}  # type: ignore[call-overload]
    only_sql, only_sync = sorted(found - stored), sorted(stored - found)
    print(
        f"verify: daily rows total {int(daily or 0):,} s; sessions only in the SQL pass "
        f"{len(only_sql)}, only in the sync {len(only_sync)}",
        file=sys.stderr,
    )
    for row in only_sql[:10]:
        print(f"  only in SQL: {row}", file=sys.stderr)
    for row in only_sync[:10]:
        print(f"  only in sync: {row}", file=sys.stderr)
    same = (lag_count, lag_seconds) == (int(count), int(seconds or 0))
    print(
        f"verify: SQL {lag_count:,} sessions / {lag_seconds:,} s, sync {int(count):,} sessions / "
        f"{int(seconds or 0):,} s: {'identical' if same else 'DIFFERENT'}",
        file=sys.stderr,
    )


def measure_incremental(
    args: argparse.Namespace, base: list[str], *, tail: int, label: str
) -> Measurement:
    """Sync all but the newest `tail` rows (not measured), then measure the sync of those.

    `base` is the bench's own child command, or the `manireports` command line itself (which
    then reads the same databases through the environment)."""
    from manireports.timetrack import sync_log

    fresh_state(args)
    engine = sa.create_engine(server_url(args, LOG_DB))
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS mr_bench_tail"))
        connection.execute(
            sa.text(
                "CREATE TABLE mr_bench_tail AS SELECT * FROM mdl_logstore_standard_log "
                "WHERE id > :cut"
            ),
            {"cut": args.rows - tail},
        )
        connection.execute(
            sa.text("DELETE FROM mdl_logstore_standard_log WHERE id > :cut"),
            {"cut": args.rows - tail},
        )
    try:
        with engine.connect() as connection:
            last = connection.execute(
                sa.text("SELECT MAX(timecreated) FROM mdl_logstore_standard_log")
            ).scalar_one()
        app = app_for(args)
        first = sync_log(app, now=int(last) + 60)  # type: ignore[arg-type]
        print(f"  (prepared: {first})", file=sys.stderr)
    finally:
        with engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO mdl_logstore_standard_log SELECT * FROM mr_bench_tail")
            )
            connection.execute(sa.text("DROP TABLE mr_bench_tail"))
        engine.dispose()
    if base[1:3] == ["-m", "manireports"]:
        environ = {**os.environ, "PYTHONPATH": str(REPO)}
        environ.update(
            {
                "MANIREPORTS_MOODLE_URL": server_url(args, LOG_DB),
                "MANIREPORTS_STATE_URL": server_url(args, STATE_DB),
                "MANIREPORTS_SITE_TIMEZONE": "Europe/London",
            }
        )
        return measure(label, base, repeat=1, env=environ)
    return measure(label, [*base, "sync-incremental"], repeat=1)


if __name__ == "__main__":
    main()
