"""What operations need: the history of cron job runs and the alert state of each job.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

- `manireports_job_runs`: one row per cron job run (host, process, start, end, how it ended), so
  `manireports health` can tell when each job last ran and how long it took.
- `manireports_job_alerts`: one row per job with its failures in a row and whether the failure
  alert went out, changed by conditional updates so that of several cron hosts only one mails.

Each step checks before it creates, so a rerun after an interrupted upgrade completes. The
downgrade drops both tables; nothing else refers to them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from manireports.state import ddl

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
MYSQL = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}
JOB_RUNS = "manireports_job_runs"
JOB_ALERTS = "manireports_job_alerts"


def upgrade() -> None:
    ddl.create_table(
        JOB_RUNS,
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(50), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", TEXT),
        sa.Column("timestarted", sa.BigInteger, nullable=False),
        sa.Column("timefinished", sa.BigInteger),
        **MYSQL,
    )
    ddl.create_index("ix_manireports_job_runs_job_timestarted", JOB_RUNS, ["job", "timestarted"])
    ddl.create_index("ix_manireports_job_runs_timestarted", JOB_RUNS, ["timestarted"])
    ddl.create_table(
        JOB_ALERTS,
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(50), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("alerting", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("timemodified", sa.BigInteger, nullable=False),
        **MYSQL,
    )
    ddl.create_index("ix_manireports_job_alerts_job", JOB_ALERTS, ["job"], unique=True)


def downgrade() -> None:
    ddl.drop_table(JOB_ALERTS)
    ddl.drop_table(JOB_RUNS)
