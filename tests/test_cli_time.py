"""The time-tracking commands and the aggregate-time cron job, end to end on the demo."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa
from manireports.jobs.lock import job_lock

from manireports.demo import build_demo
from tests.cli_runner import invoke


def test_sync_aggregate_and_the_job_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    build_demo(url, size="small", seed=3, anchor=date(2026, 6, 1))
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    locks = tmp_path / "locks"
    env = {
        "MANIREPORTS_MOODLE_URL": url,
        "MANIREPORTS_STATE_URL": state,
        "MANIREPORTS_JOBS_LOCK_DIR": str(locks),
    }
    assert invoke("db", "upgrade", env=env).returncode == 0
    first = invoke("jobs", "aggregate-time", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == b"" and first.stderr == b"", "cron jobs are silent on success"
    engine = sa.create_engine(state)
    with engine.connect() as connection:
        daily = connection.execute(
            sa.text("SELECT count(*), sum(duration) FROM manireports_usertime_daily")
        ).one()
    assert daily[0] > 0 and daily[1] > 0
    again = invoke("-v", "time", "sync", env=env)
    assert again.returncode == 0, again.stderr
    assert "Read 0 events" in again.stderr.decode()
    aggregated = invoke("time", "aggregate", "--from", "2026-05-01", "--to", "2026-05-31", env=env)
    assert aggregated.returncode == 0, aggregated.stderr
    with engine.connect() as connection:
        assert (
            connection.execute(
                sa.text("SELECT count(*), sum(duration) FROM manireports_usertime_daily")
            ).one()
            == daily
        )
    engine.dispose()
    idle = invoke("-v", "time", "aggregate", env=env)
    assert idle.returncode == 0, idle.stderr
    assert "nothing to do" in idle.stderr.decode()
    # One guest heartbeat (ignored, not an error) and one of a real user, both a minute old.
    beats = (
        '{"userid": 1, "courseid": 2, "timestamp": 1780000000}\n'
        '{"userid": 5, "courseid": 2, "timestamp": 1780000000}\n'
    )
    beat = invoke("-v", "time", "heartbeat", env=env, stdin=beats)
    assert beat.returncode == 0, beat.stderr
    assert "Applied 1 of 2 heartbeats (1 ignored" in beat.stderr.decode()
    with job_lock(locks, "aggregate-time"):
        busy = invoke("jobs", "aggregate-time", env=env)
    assert busy.returncode == 0
    assert "already running" in busy.stderr.decode()


def test_time_spent_is_a_report_with_days_and_scope(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    build_demo(url, size="small", seed=3, anchor=date(2026, 6, 1))
    state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    env = {"MANIREPORTS_MOODLE_URL": url, "MANIREPORTS_STATE_URL": state}
    assert invoke("db", "upgrade", env=env).returncode == 0
    assert invoke("jobs", "aggregate-time", env=env).returncode == 0

    moodle = sa.create_engine(url)
    with moodle.connect() as connection:
        # Plain learners: no teaching or manager role anywhere, no IOMAD manager type, not an
        # admin; they may see only their own rows.
        learners = dict(
            connection.execute(
                sa.text(
                    "SELECT u.id, u.username FROM mdl_user u WHERE u.deleted = 0 "
                    "AND u.id NOT IN (SELECT ra.userid FROM mdl_role_assignments ra "
                    "JOIN mdl_role r ON r.id = ra.roleid "
                    "WHERE r.shortname IN ('editingteacher', 'teacher', 'manager')) "
                    "AND u.id NOT IN (SELECT userid FROM mdl_company_users WHERE managertype > 0) "
                    "AND u.username NOT IN ('admin', 'guest')"
                )
            ).all()
        )
    moodle.dispose()
    engine = sa.create_engine(state)
    with engine.connect() as connection:
        per_user = connection.execute(
            sa.text(
                "SELECT userid, count(*), sum(duration) FROM manireports_usertime_daily "
                "WHERE date BETWEEN '2026-05-01' AND '2026-05-31' "
                "GROUP BY userid ORDER BY count(*) DESC, userid"
            )
        ).all()
        in_may = connection.execute(
            sa.text(
                "SELECT count(*), sum(duration), sum(sessioncount) FROM manireports_usertime_daily "
                "WHERE date BETWEEN '2026-05-01' AND '2026-05-31'"
            )
        ).one()
    engine.dispose()
    busiest = next(row for row in per_user if row[0] in learners)
    username = learners[busiest[0]]

    period = ("--param", "from=2026-05-01", "--param", "to=2026-05-31")
    result = invoke("run-report", "time_spent", *period, "-f", "csv", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0] == "userid,username,courseid,date,duration_seconds,sessions"
    rows = [line.split(",") for line in lines[1:]]
    assert len(rows) == in_may[0]
    assert all("2026-05-01" <= row[3] <= "2026-05-31" for row in rows)
    assert sum(int(row[4]) for row in rows) == in_may[1]
    assert sum(int(row[5]) for row in rows) == in_may[2]

    # per=month: a row per user, course and month, the seconds and sessions of its days summed.
    monthly = invoke("run-report", "time_spent", *period, "--param", "per=month", env=env)
    assert monthly.returncode == 0, monthly.stderr
    months = [line.split(",") for line in monthly.stdout.decode().splitlines()[1:]]
    assert {row[3] for row in months} == {"2026-05-01"}
    assert len(months) == len({(row[0], row[2]) for row in rows})
    assert sum(int(row[4]) for row in months) == in_may[1]
    assert sum(int(row[5]) for row in months) == in_may[2]

    mine = invoke("run-report", "time_spent", *period, "--as-user", username, "-f", "csv", env=env)
    assert mine.returncode == 0, mine.stderr
    own = [line.split(",") for line in mine.stdout.decode().splitlines()[1:]]
    assert {row[0] for row in own} == {str(busiest[0])}
    assert (len(own), sum(int(row[4]) for row in own)) == (busiest[1], busiest[2])

    # --as-of before the period: no day after that moment is reported.
    early = invoke("run-report", "time_spent", *period, "--as-of", "2026-04-30", env=env)
    assert early.returncode == 0, early.stderr
    assert early.stdout.decode().splitlines()[1:] == []

    bad = invoke("run-report", "time_spent", "--param", "from=May", env=env)
    assert bad.returncode == 2
    assert "is not a day" in bad.stderr.decode()
    weekly = invoke("run-report", "time_spent", "--param", "per=week", env=env)
    assert (weekly.returncode, weekly.stdout) == (2, b"")
    assert weekly.stderr.decode().splitlines() == [
        "Error: The parameter per must be day or month, not 'week'."
    ]
    listed = invoke("reports", "list", "-f", "csv", env=env)
    assert "per (text): day (the default) or month" in listed.stdout.decode()
