"""privacy export and delete on every engine, over hand-made state for two users.

User 42 is the subject; user 43 has the same kinds of data and must keep all of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from manireports.privacy import ERASED_USER, delete_user, export_user
from manireports.state import StateDB, list_audit, record_audit
from manireports.state import tables as t
from tests.test_cache import T, make_app


@pytest.fixture
def state_url(state_db_url: str) -> str:
    url = state_db_url
    StateDB(url).upgrade()
    return url


def fill(state_url: str, storage: Path) -> None:
    engine = sa.create_engine(state_url)
    (storage / "as42.csv").write_text("x\n")
    with engine.begin() as c:
        for user in (42, 43):
            c.execute(sa.insert(t.usertime_sessions).values(
                userid=user, courseid=2, sessionstart=T, lastupdated=T, duration=60, eventcount=2
            ))  # fmt: skip
            c.execute(sa.insert(t.usertime_daily).values(
                userid=user, courseid=2, date="2025-10-09", duration=60, sessioncount=1,
                lastupdated=T,
            ))  # fmt: skip
            c.execute(sa.insert(t.scorm_summary).values(
                scormid=1, courseid=2, userid=user, attempts=1, completed=1, totaltime=5,
                score=50.0, lastaccess=T, lastupdated=T,
            ))  # fmt: skip
        run = {"report": "course_completion", "userid": 0, "status": "completed",
               "timestarted": T}  # fmt: skip
        c.execute(sa.insert(t.report_runs).values(
            id=1, actinguser=42, outputpath=str(storage / "as42.csv"),
            paramsjson=json.dumps({"as_user": "42"}), **run,
        ))  # fmt: skip
        c.execute(sa.insert(t.report_runs).values(id=2, actinguser=43, outputpath=None, **run))
        c.execute(sa.insert(t.deliveries).values(runid=2, recipient="u42@example.org", userid=42))
        sched = {"report": "course_completion", "frequency": "daily", "next_run": T,
                 "timecreated": T, "timemodified": T}  # fmt: skip
        c.execute(
            sa.insert(t.schedules).values(id=1, name="mine", ownerid=42, createdby=42, **sched)
        )
        c.execute(
            sa.insert(t.schedules).values(id=2, name="theirs", ownerid=43, createdby=42, **sched)
        )
        c.execute(sa.insert(t.schedule_recipients).values(scheduleid=1, userid=43))
        c.execute(sa.insert(t.schedule_recipients).values(scheduleid=2, userid=42))
        c.execute(sa.insert(t.customreports).values(
            name="logins", sqlquery="SELECT 1", createdby=42, timecreated=T, timemodified=T
        ))  # fmt: skip
        board = {"layoutjson": "{}", "createdby": 42, "timecreated": T, "timemodified": T}
        c.execute(sa.insert(t.dashboards).values(name="personal", scope="personal", **board))
        c.execute(sa.insert(t.dashboards).values(name="shared", scope="company", **board))
        contract = {"recipients": [
            {"userid": 42, "email": "a@x.org", "fullname": "Ann"},
            {"userid": 43, "email": "b@x.org", "fullname": "Bob"},
        ]}  # fmt: skip
        job = {"type": "email", "total_recipients": 2, "payload_json": json.dumps(contract),
               "timecreated": T}  # fmt: skip
        c.execute(sa.insert(t.cloud_jobs).values(jobid="j1", createdby=42, **job))
        c.execute(sa.insert(t.cloud_job_recipients).values(jobid="j1", userid=42, email="a@x.org"))
        c.execute(sa.insert(t.cloud_job_recipients).values(jobid="j1", userid=43, email="b@x.org"))
        c.execute(sa.insert(t.cache_summary).values(
            cachekey="k", reporttype="scorm_summary", datajson="[]", lastgenerated=T, ttl=60
        ))  # fmt: skip
        record_audit(c, userid=42, action="report_created", objecttype="report", details={"n": 1})
        record_audit(c, userid=0, action="report_run", objecttype="report", objectid=1,
                     details={"as_user": "jdoe"})  # fmt: skip
        record_audit(c, userid=0, action="report_refused", objecttype="report",
                     details={"as_user": "42"})  # fmt: skip
        record_audit(c, userid=0, action="report_run", objecttype="report", objectid=2,
                     details={"as_user": "43"})  # fmt: skip
    engine.dispose()


def test_export_then_delete(state_url: str, tmp_path: Path) -> None:
    storage = tmp_path / "files"
    storage.mkdir()
    fill(state_url, storage)
    app = make_app("sqlite://", state_url, storage_dir=str(storage))
    found = export_user(app, 42)
    json.dumps(found)  # JSON-ready
    assert (
        len(found["time_tracking"]["sessions"]) == 1 and len(found["time_tracking"]["daily"]) == 1
    )
    assert [r["id"] for r in found["report_runs"]] == [1]
    assert found["report_runs"][0]["paramsjson"] == {"as_user": "42"}
    assert [d["recipient"] for d in found["deliveries"]] == ["u42@example.org"]
    assert [s["name"] for s in found["schedules"]] == ["mine", "theirs"]  # owns 1, created 2
    assert [s["name"] for s in found["schedules_received"]] == ["theirs"]
    assert [r["name"] for r in found["custom_reports"]] == ["logins"]
    assert [d["name"] for d in found["dashboards"]] == ["personal", "shared"]
    assert [j["jobid"] for j in found["cloud_jobs"]] == ["j1"]
    assert [r["email"] for r in found["cloud_job_recipients"]] == ["a@x.org"]
    assert [r["userid"] for r in found["scorm_summary"]] == [42]
    # By them; about their run 1; naming them as --as-user. Not the run of user 43.
    assert [a["action"] for a in found["audit_logs"]] == [
        "report_created", "report_run", "report_refused",
    ]  # fmt: skip

    counts = delete_user(app, 42)
    assert counts == {
        "time_tracking": 2, "run_files": 1, "audit_logs": 4, "report_runs": 1, "deliveries": 1,
        "schedule_recipients": 1, "schedules": 1, "schedules_handed_over": 1,
        "custom_reports_handed_over": 1, "dashboards": 1, "dashboards_handed_over": 1,
        "cloud_job_payloads": 1, "cloud_job_recipients": 1, "cloud_jobs_handed_over": 1,
        "scorm_summary": 1, "cache_entries": 1,
    }  # fmt: skip
    # audit_logs 4: the three above plus the privacy_export entry (objecttype user, objectid 42).
    assert not (storage / "as42.csv").exists()
    after = export_user(app, 42)
    assert all(not after[k] for k in after if k not in ("userid", "time_tracking"))
    assert after["time_tracking"] == {"sessions": [], "daily": []}
    # User 43 keeps everything.
    other = export_user(app, 43)
    assert [r["id"] for r in other["report_runs"]] == [2]
    assert len(other["time_tracking"]["sessions"]) == 1 and len(other["scorm_summary"]) == 1
    assert [s["name"] for s in other["schedules"]] == ["theirs"]
    assert [r["email"] for r in other["cloud_job_recipients"]] == ["b@x.org"]
    # The job contract kept with the job no longer names user 42; user 43's entry stays.
    engine = sa.create_engine(state_url)
    with engine.connect() as connection:
        kept = connection.execute(sa.text("SELECT payload_json FROM manireports_cloud_jobs")).all()
    engine.dispose()
    assert [json.loads(text)["recipients"] for (text,) in kept] == [
        [{"userid": 43, "email": "b@x.org", "fullname": "Bob"}]
    ]
    # The trail stays, pseudonymised, and the deletion is recorded with counts only.
    entries = {e["action"]: e for e in reversed(list_audit(app.state))}
    assert entries["report_created"]["userid"] == ERASED_USER
    assert entries["report_created"]["details"] is None
    assert entries["report_refused"]["details"] is None
    assert entries["privacy_export"]["objectid"] == 43  # the second export, of user 43
    deletion = [e for e in list_audit(app.state) if e["action"] == "privacy_delete"]
    assert len(deletion) == 1 and deletion[0]["objectid"] is None
    assert "42" not in json.dumps(deletion[0]["details"])
