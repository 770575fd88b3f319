"""A CSV attached to a scheduled mail is guarded against formulas; the mail read back from a real
SMTP server (aiosmtpd), the attachment parsed as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import sqlalchemy as sa

from tests.cli_runner import invoke
from tests.schedule_support import Inbox, SmtpServer, attachment, build_site, environment, free_port

FORMULA = '=HYPERLINK("http://evil.example/","click")'


def test_scheduled_csv_attachments_are_guarded(tmp_path: Path, sqlite_url: str) -> None:
    moodle = tmp_path / "moodle.sqlite"
    build_site(moodle)
    engine = sa.create_engine(f"sqlite:///{moodle}")
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE mdl_user SET firstname = :f WHERE username = 'sam'"), {"f": FORMULA}
        )
    engine.dispose()
    inbox = Inbox()
    server = SmtpServer(inbox, free_port())
    server.start()
    try:
        env = environment(tmp_path, moodle, sqlite_url, server.port)
        assert invoke("db", "upgrade", env=env).returncode == 0
        added = invoke(
            "schedule", "add", "--report", "course_completion", "--name", "Daily",
            "--frequency", "daily", "--start", "2026-01-05 06:00", "--format", "csv",
            "--recipient", "tina", env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        ran = invoke("jobs", "run-due", env=env)
        assert ran.returncode == 0, ran.stderr
        name, data = attachment(inbox.to("tina@school.example")[0])
        assert name.endswith(".csv")
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        sam = next(row for row in rows if row["username"] == "sam")
        assert sam["fullname"] == "'" + FORMULA + " Tester"
    finally:
        server.stop()
