"""The cache, job and privacy commands end to end through the real command line (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from manireports.jobs.lock import job_lock

from tests.cli_runner import invoke
from tests.moodle_site import MoodleSite


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'moodle.sqlite'}"
    site = MoodleSite(url)
    course = site.course("A")
    company = site.insert("company", name="Acme", shortname="acme", city="", country="")
    for name in ("a", "b"):
        user = site.user(name)
        site.enrol(user, course, timecreated=1_700_000_000)
        site.insert("company_users", companyid=company, userid=user, departmentid=0)
    site.dispose()
    environ = {
        "MANIREPORTS_MOODLE_URL": url,
        "MANIREPORTS_STATE_URL": f"sqlite:///{tmp_path / 'state.sqlite'}",
        "MANIREPORTS_JOBS_LOCK_DIR": str(tmp_path / "locks"),
        "MANIREPORTS_STORAGE_DIR": str(tmp_path / "files"),
    }
    assert invoke("db", "upgrade", env=environ).returncode == 0
    return environ


def ok(*args: str, env: dict[str, str]) -> str:
    done = invoke(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def test_build_cache_stats_and_clear(env: dict[str, str]) -> None:
    built = invoke("jobs", "build-cache", env=env)
    assert built.returncode == 0 and built.stdout == b"" and built.stderr == b""
    stats = json.loads(ok("cache", "stats", "--format", "json", env=env))
    # One entry per report, each written once by the job (no miss); the site dashboard, built
    # last, read the trends and company entries once each (one hit) and wrote its own entry.
    assert [(s["reporttype"], s["entries"], s["fresh"], s["hits"], s["misses"]) for s in stats] == [
        ("company_overview", 1, 1, 1, 0), ("completion_trends", 1, 1, 1, 0),
        ("dashboard_admin", 1, 1, 0, 0), ("enrolment_trends", 1, 1, 1, 0),
        ("scorm_summary", 1, 1, 0, 0),
    ]  # fmt: skip
    # run-report reads the entry the job built; --no-cache recomputes.
    first = ok("run-report", "company_overview", "--format", "json", env=env)
    again = ok("run-report", "company_overview", "--format", "json", "--no-cache", env=env)
    assert first == again and json.loads(first)[0]["users"] == 2
    audit = json.loads(ok("audit", "list", "--action", "report_run", "--format", "json", env=env))
    outcomes = [
        e["details"]["cache"] for e in audit if e["details"]["report"] == "company_overview"
    ]
    assert outcomes == ["refresh", "hit", "hit", "refresh"]  # newest first; the dashboard's hit
    stats = {s["reporttype"]: s for s in json.loads(ok("cache", "stats", "-f", "json", env=env))}
    assert (stats["company_overview"]["hits"], stats["company_overview"]["hit_rate_percent"]) == (
        2, 100.0,
    )  # fmt: skip
    cleared = invoke("cache", "clear", "--type", "scorm_summary", env=env)
    assert cleared.returncode == 0 and b"Deleted 1 cache entries" in cleared.stderr
    remaining = json.loads(ok("cache", "stats", "-f", "json", env=env))
    assert "scorm_summary" not in [s["reporttype"] for s in remaining]


def test_jobs_report_and_respect_locks(env: dict[str, str], tmp_path: Path) -> None:
    done = invoke("-v", "jobs", "cleanup", env=env)
    assert done.returncode == 0
    assert b"Deleted 0 runs rows." in done.stderr
    assert ok("jobs", "scorm-summary", env=env) == ""
    for job in ("build-cache", "scorm-summary", "cleanup", "run-due", "aggregate-time"):
        with job_lock(tmp_path / "locks", job):
            busy = invoke("jobs", job, env=env)
        assert busy.returncode == 0, busy.stderr
        assert f"{job} is already running".encode() in busy.stderr


def test_privacy_commands(env: dict[str, str]) -> None:
    ok("run-report", "course_completion", "--as-user", "a", "--format", "json", env=env)
    exported = json.loads(ok("privacy", "export", "--user", "3", env=env))  # user a is id 3
    assert [run["report"] for run in exported["report_runs"]] == ["course_completion"]
    deleted = invoke("privacy", "delete", "--user", "3", env=env)
    assert deleted.returncode == 0 and b"report runs 1" in deleted.stderr
    assert json.loads(ok("privacy", "export", "--user", "3", env=env))["report_runs"] == []
    bad = invoke("privacy", "export", "--user", "x", env=env)
    assert bad.returncode == 2


def test_job_log_file_records_every_run(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    logged = {**env, "MANIREPORTS_JOBS_LOG_FILE": str(log)}
    quiet = invoke("jobs", "cleanup", env=logged)
    # Silent for cron without -v, while the log holds the detail and the end of the run.
    assert quiet.returncode == 0 and quiet.stderr == b""
    with job_lock(tmp_path / "locks", "cleanup"):
        assert invoke("jobs", "cleanup", env=logged).returncode == 0
    # A failing run is logged as failed with its message (the Moodle database is unreachable).
    broken = {**logged, "MANIREPORTS_MOODLE_URL": "sqlite:////nonexistent/dir/moodle.sqlite"}
    failed = invoke("jobs", "scorm-summary", env=broken)
    assert failed.returncode != 0
    lines = log.read_text(encoding="utf-8").splitlines()
    messages = [line.split(": ", 1)[1] for line in lines]
    jobs = [line.split(" ")[3].split("[")[0] for line in lines]
    assert "Deleted 0 runs rows." in messages
    assert messages.count("finished") == 1  # the busy run never started; the failed one failed
    assert "cleanup is already running on this host; this run stops here." in messages
    assert messages[-1].startswith("failed: ") and jobs[-1] == "scorm-summary"
    assert set(jobs) == {"cleanup", "scorm-summary"}
