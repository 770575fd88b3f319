"""jobs scorm-summary and jobs cleanup through the library, on every engine, with hand-made data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from manireports.jobs.scorm_store import refresh_scorm_summary

from manireports.cleanup import cleanup
from manireports.errors import RunError
from manireports.state import StateDB, list_audit, list_runs
from manireports.state import tables as t
from tests.moodle_site import MoodleSite
from tests.test_cache import T, make_app
from tests.test_report_scorm import T0, Scorm

DAY = 86_400


@pytest.fixture
def state_url(state_db_url: str) -> str:
    url = state_db_url
    StateDB(url).upgrade()
    return url


@pytest.fixture
def scorm_site(db_url: str) -> Iterator[MoodleSite]:
    site = MoodleSite(db_url, release="4.5")
    w = Scorm(site, "43plus")
    course = site.course("A")
    u1, u2 = site.user("u1"), site.user("u2")
    s = w.activity(course, "Safety", version="SCORM_12", grademethod=1, whatgrade=0)
    sco = w.sco(s, "one")
    # u1: one attempt, passed, raw score 85, 10 minutes; last value at T0 + 4.
    w.launch(u1, s, sco, 1, 1)
    w.track(u1, s, sco, 1, "cmi.core.lesson_status", "passed", 2)
    w.track(u1, s, sco, 1, "cmi.core.score.raw", "85", 3)
    w.track(u1, s, sco, 1, "cmi.core.total_time", "00:10:00", 4)
    # u2: opened it once (attempt 1), nothing else: not completed, no time, and score 0 (the
    # report grades as Moodle's scorm_grade_user, which gives 0 without any raw score).
    w.launch(u2, s, sco, 1, 10)
    site.ids = {"scorm": s, "course": course, "u1": u1, "u2": u2}  # type: ignore[attr-defined]
    yield site
    site.dispose()


def test_scorm_summary_job_replaces_rows(scorm_site: MoodleSite, state_url: str) -> None:
    app = make_app(scorm_site.url, state_url)
    ids = scorm_site.ids  # type: ignore[attr-defined]
    for _ in range(2):  # re-running replaces, never duplicates
        assert refresh_scorm_summary(app) == 2
    engine = sa.create_engine(state_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                t.scorm_summary.c.scormid, t.scorm_summary.c.courseid, t.scorm_summary.c.userid,
                t.scorm_summary.c.attempts, t.scorm_summary.c.completed,
                t.scorm_summary.c.totaltime, t.scorm_summary.c.score,
                t.scorm_summary.c.lastaccess, t.scorm_summary.c.lastupdated,
            ).order_by(t.scorm_summary.c.userid)
        ).all()  # fmt: skip
    engine.dispose()
    s, c = ids["scorm"], ids["course"]
    assert [tuple(row) for row in rows] == [
        (s, c, ids["u1"], 1, 1, 600, 85.0, T0 + 4, T),
        (s, c, ids["u2"], 1, 0, 0, 0.0, T0 + 10, T),
    ]


def test_cleanup_by_retention(state_url: str, tmp_path: Path) -> None:
    storage = tmp_path / "files"
    storage.mkdir()
    kept_file, old_file = storage / "new.csv", storage / "old.csv"
    outside = tmp_path / "mine.csv"  # written with run-report -o: never manireports' to delete
    for path in (kept_file, old_file, outside):
        path.write_text("x\n")
    app = make_app(
        "sqlite://", state_url, storage_dir=str(storage), retention_audit_days="0",
        site_timezone="UTC",
    )  # fmt: skip
    old, recent = T - 400 * DAY, T - DAY  # 400 days ago is past every default retention
    engine = sa.create_engine(state_url)
    with engine.begin() as connection:
        session = {"userid": 5, "courseid": 2, "sessionstart": old, "eventcount": 1}
        connection.execute(
            sa.insert(t.usertime_sessions),
            [
                session | {"lastupdated": old, "duration": 60},  # deleted (365 days)
                session | {"lastupdated": old, "duration": None},  # open: kept
                session | {"lastupdated": recent, "duration": 60},  # kept
            ],
        )
        # daily_days 730: T is 2025-10-09, so the first day kept is 2023-10-10.
        daily = {"userid": 5, "courseid": 2, "duration": 60, "sessioncount": 1, "lastupdated": T}
        connection.execute(
            sa.insert(t.usertime_daily),
            [daily | {"date": "2023-10-09"}, daily | {"date": "2023-10-10"}],
        )
        run = {
            "report": "course_completion",
            "userid": 0,
            "status": "completed",
            "outputpath": None,
        }
        connection.execute(
            sa.insert(t.report_runs),
            [
                run | {"timestarted": old, "outputpath": str(old_file)},  # deleted with its file
                run | {"timestarted": old, "outputpath": str(outside)},  # deleted, file kept
                run | {"timestarted": old, "status": "running"},  # crashed long ago: deleted
                run | {"timestarted": recent, "outputpath": str(kept_file)},  # kept
            ],
        )
        entry = {"reporttype": "x", "datajson": "[]", "ttl": 60}
        connection.execute(
            sa.insert(t.cache_summary),
            [
                entry | {"cachekey": "a", "lastgenerated": T - 8 * DAY},  # deleted (7 days)
                entry | {"cachekey": "b", "lastgenerated": T - 6 * DAY},
            ],
        )
        connection.execute(
            sa.insert(t.audit_logs),
            [{"userid": 0, "action": "report_run", "objecttype": "report", "timecreated": old}],
        )
        job = {"type": "email", "total_recipients": 1, "payload_json": "{}", "createdby": 0}
        connection.execute(
            sa.insert(t.cloud_jobs),
            [
                job | {"jobid": "old", "timecreated": T - 181 * DAY},  # deleted (180 days)
                job | {"jobid": "new", "timecreated": T - 179 * DAY},
            ],
        )
        connection.execute(
            sa.insert(t.cloud_job_recipients),
            [{"jobid": "old", "userid": 5, "email": "a@example.org"}],
        )
        # Replay records: kept a day (a callback 300 s past its timestamp is stale anyway).
        connection.execute(
            sa.insert(t.callback_replay),
            [
                {"bodyhash": "a" * 64, "timereceived": T - DAY - 1},  # deleted
                {"bodyhash": "b" * 64, "timereceived": T - DAY + 1},
            ],
        )
    result = cleanup(app)
    assert result.deleted == {
        "sessions": 1, "daily": 1, "runs": 3, "cache": 1, "cloud_jobs": 1, "callback_replay": 1,
    }  # fmt: skip
    assert (result.files_removed, result.files_outside_storage) == (1, 1)
    assert not old_file.exists() and kept_file.exists() and outside.exists()
    with engine.connect() as connection:

        def count(table: sa.Table) -> int:
            return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar())

        assert count(t.usertime_sessions) == 2 and count(t.usertime_daily) == 1
        assert count(t.report_runs) == 1 and count(t.cache_summary) == 1
        # The old job's recipients went with it.
        assert count(t.cloud_jobs) == 1 and count(t.cloud_job_recipients) == 0
        assert connection.execute(sa.select(t.callback_replay.c.bodyhash)).scalars().all() == [
            "b" * 64
        ]
    # The audit log is kept (audit_days 0) and records the cleanup.
    entries = list_audit(app.state)
    assert [e["action"] for e in entries] == ["data_cleanup", "report_run"]
    assert entries[0]["details"]["runs"] == 3
    # With audit_days set, the old entry goes (the new cleanup entry stays).
    app = make_app("sqlite://", state_url, retention_audit_days="30", storage_dir=str(storage))
    assert cleanup(app).deleted["audit"] == 1
    assert [e["action"] for e in list_audit(app.state)] == ["data_cleanup", "data_cleanup"]
    engine.dispose()


def test_a_scorm_summary_stopped_at_max_rows_leaves_the_table(
    scorm_site: MoodleSite, state_url: str
) -> None:
    assert refresh_scorm_summary(make_app(scorm_site.url, state_url)) == 2
    capped = make_app(scorm_site.url, state_url, reports_max_rows="1", cache_enabled="false")
    with pytest.raises(RunError, match="max_rows = 1 rows; manireports_scorm_summary was left"):
        refresh_scorm_summary(capped)
    engine = sa.create_engine(state_url)
    with engine.connect() as connection:
        kept = connection.execute(sa.select(sa.func.count()).select_from(t.scorm_summary))
        assert kept.scalar_one() == 2
    engine.dispose()
    runs = list_runs(capped.state)
    assert [(r["status"], r["paramsjson"]["for"]) for r in runs] == [
        ("failed", "scorm-summary"), ("completed", "scorm-summary"),
    ]  # fmt: skip
    assert runs[1]["rowcount"] == 2
