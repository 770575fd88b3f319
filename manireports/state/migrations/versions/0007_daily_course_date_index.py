"""Daily time totals are found by course and day.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

The analytics sum a window of days of the tracked courses' daily totals (`courseid IN (...)` and a
date range). With an index on the course alone, SQLite, which keeps no statistics on the state,
took it and read every day of those courses' whole history, kept for two years by default: 0.9 s
of each at-risk run on a 30,000-user site. An index on (courseid, date) reads only the window's
days and serves every query the course index served, which it replaces.
"""

from __future__ import annotations

from manireports.state import ddl

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DAILY = "manireports_usertime_daily"
BY_COURSE = "ix_manireports_usertime_daily_courseid"
BY_COURSE_AND_DAY = "ix_manireports_usertime_daily_courseid_date"


def upgrade() -> None:
    ddl.create_index(BY_COURSE_AND_DAY, DAILY, ["courseid", "date"])
    ddl.drop_index(BY_COURSE, DAILY)


def downgrade() -> None:
    ddl.create_index(BY_COURSE, DAILY, ["courseid"])
    ddl.drop_index(BY_COURSE_AND_DAY, DAILY)
