"""What the command-line product adds to the ManiReports plugin's tables.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-28

- Schedules and runs of built-in reports: `report` names the report, `reportid` (a custom report)
  becomes optional; existing rows get their custom report's name.
- Schedule recurrence (cron, time of day, weekday, day of month), scope and owner, and the claim
  columns that let several cron hosts share schedules and run each due one once.
- Recipients by email address as well as by Moodle user; per-recipient delivery state of a run.
- Who a run was for (--as-user), its format and output file.
- Custom report names become unique, so `run-report NAME` finds one report; duplicates get their
  id appended.
- Event counts and source of time-tracking sessions, the course of SCORM summary rows, cache hit
  counters, the error of a failed cloud submission.
- Foreign keys that cascade to rows that only make sense with their parent, and keep run history
  when a report or schedule is deleted.
- Settings (watermarks) and cloud callback replay protection.

The downgrade drops all of that again and, because revision 0001 cannot hold them, deletes
schedules and runs of built-in reports and recipients given by email address.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from manireports.state import ddl

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
MYSQL = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}

CUSTOMREPORTS = "manireports_customreports"
SCHEDULES = "manireports_schedules"
RECIPIENTS = "manireports_schedule_recipients"
RUNS = "manireports_report_runs"
DELIVERIES = "manireports_deliveries"
SESSIONS = "manireports_usertime_sessions"
SCORM = "manireports_scorm_summary"
CACHE = "manireports_cache_summary"
DASHBOARDS = "manireports_dashboards"
WIDGETS = "manireports_dashboard_widgets"
AUDIT = "manireports_audit_logs"
CLOUD_JOBS = "manireports_cloud_jobs"
CLOUD_RECIPIENTS = "manireports_cloud_job_recipients"
SETTINGS = "manireports_settings"
REPLAY = "manireports_callback_replay"

# (table, column, parent table, parent column, ON DELETE) of the foreign keys this revision adds
# or changes; 0001 created the first three without an ON DELETE rule.
CHANGED_KEYS = [
    (RECIPIENTS, "scheduleid", SCHEDULES, "id", "CASCADE"),
    (RUNS, "reportid", CUSTOMREPORTS, "id", "SET NULL"),
    (WIDGETS, "dashboardid", DASHBOARDS, "id", "CASCADE"),
]
NEW_KEYS = [
    (RUNS, "scheduleid", SCHEDULES, "id", "SET NULL"),
    (CLOUD_RECIPIENTS, "jobid", CLOUD_JOBS, "jobid", "CASCADE"),
]


def _ix(table: str, *columns: str) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def _fk(table: str, column: str) -> str:
    return f"fk_{table}_{column}"


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _unique_report_names() -> None:
    """Append the id to every custom report name already taken (ignoring case and spaces)."""
    reports = sa.table(CUSTOMREPORTS, sa.column("id", sa.BigInteger), sa.column("name", sa.String))
    connection = op.get_bind()
    taken: set[str] = set()
    rows = connection.execute(sa.select(reports.c.id, reports.c.name).order_by(reports.c.id))
    for reportid, name in rows.all():
        if name.strip().casefold() in taken:
            suffix = f" ({reportid})"
            name = name[: 255 - len(suffix)] + suffix
            connection.execute(reports.update().where(reports.c.id == reportid).values(name=name))
        taken.add(name.strip().casefold())


def _fill_report_names(table: str) -> None:
    """Name the custom report of every existing schedule or run in the new `report` column."""
    reports = sa.table(CUSTOMREPORTS, sa.column("id"), sa.column("name"))
    target = sa.table(table, sa.column("reportid"), sa.column("report"))
    name = sa.select(reports.c.name).where(reports.c.id == target.c.reportid).scalar_subquery()
    op.execute(target.update().values(report=name))


def upgrade() -> None:
    # Each schema step checks first (manireports.state.ddl): on MySQL a killed upgrade leaves part
    # of this revision applied, and the rerun must complete it. The data steps are repeatable.
    _unique_report_names()
    ddl.create_index(_ix(CUSTOMREPORTS, "name"), CUSTOMREPORTS, ["name"], unique=True)

    ddl.add_column(SCHEDULES, sa.Column("report", sa.String(255)))
    _fill_report_names(SCHEDULES)
    with op.batch_alter_table(SCHEDULES) as batch:
        batch.alter_column("reportid", existing_type=sa.BigInteger(), nullable=True)
        batch.alter_column("report", existing_type=sa.String(255), nullable=False)
        for column in (
            sa.Column("cron_expr", sa.String(100)),
            sa.Column("at_time", sa.String(5)),
            sa.Column("weekday", sa.SmallInteger),
            sa.Column("monthday", sa.SmallInteger),
            sa.Column("scope", sa.String(20), nullable=False, server_default="recipient"),
            sa.Column("ownerid", sa.BigInteger),
            sa.Column("claimed_by", sa.String(255)),
            sa.Column("claimed_until", sa.BigInteger),
            sa.Column("attempt", sa.Integer, nullable=False, server_default=sa.text("0")),
            sa.Column("last_run", sa.BigInteger),
        ):
            ddl.batch_add_column(batch, SCHEDULES, column)

    with op.batch_alter_table(RECIPIENTS) as batch:
        batch.alter_column("userid", existing_type=sa.BigInteger(), nullable=True)
        ddl.batch_add_column(batch, RECIPIENTS, sa.Column("email", sa.String(255)))
        for columns in (("scheduleid", "userid"), ("scheduleid", "email")):
            name = _ix(RECIPIENTS, *columns)
            ddl.batch_create_index(batch, RECIPIENTS, name, columns, unique=True)

    ddl.add_column(RUNS, sa.Column("report", sa.String(255)))
    _fill_report_names(RUNS)
    # Revision 0001 had no key on scheduleid, so runs may name schedules deleted since.
    runs = sa.table(RUNS, sa.column("scheduleid"))
    schedules = sa.table(SCHEDULES, sa.column("id"))
    op.execute(
        runs.update()
        .where(runs.c.scheduleid.is_not(None), runs.c.scheduleid.not_in(sa.select(schedules.c.id)))
        .values(scheduleid=None)
    )
    # Indexes before keys: MySQL would otherwise add its own index for the new key.
    for columns in (("report", "timestarted"), ("scheduleid",), ("userid",), ("timestarted",)):
        ddl.create_index(_ix(RUNS, *columns), RUNS, columns)
    with op.batch_alter_table(RUNS) as batch:
        batch.alter_column("reportid", existing_type=sa.BigInteger(), nullable=True)
        batch.alter_column("report", existing_type=sa.String(255), nullable=False)
        ddl.batch_add_column(batch, RUNS, sa.Column("actinguser", sa.BigInteger))
        ddl.batch_add_column(batch, RUNS, sa.Column("format", sa.String(10)))
        ddl.batch_add_column(batch, RUNS, sa.Column("outputpath", TEXT))

    ddl.create_table(
        DELIVERIES,
        _id(),
        sa.Column("runid", sa.BigInteger, nullable=False),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("userid", sa.BigInteger),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("lasterror", TEXT),
        sa.Column("timesent", sa.BigInteger),
        sa.Index(_ix(DELIVERIES, "runid", "recipient"), "runid", "recipient", unique=True),
        sa.Index(_ix(DELIVERIES, "status"), "status"),
        sa.Index(_ix(DELIVERIES, "userid"), "userid"),
        sa.ForeignKeyConstraint(
            ["runid"], [f"{RUNS}.id"], name=_fk(DELIVERIES, "runid"), ondelete="CASCADE"
        ),
        **MYSQL,
    )

    ddl.add_column(
        SESSIONS, sa.Column("eventcount", sa.Integer, nullable=False, server_default=sa.text("0"))
    )
    ddl.add_column(
        SESSIONS, sa.Column("source", sa.String(10), nullable=False, server_default="log")
    )

    ddl.add_column(SCORM, sa.Column("courseid", sa.BigInteger))
    ddl.create_index(_ix(SCORM, "courseid"), SCORM, ["courseid"])

    ddl.add_column(
        CACHE, sa.Column("hits", sa.Integer, nullable=False, server_default=sa.text("0"))
    )
    ddl.add_column(
        CACHE, sa.Column("misses", sa.Integer, nullable=False, server_default=sa.text("0"))
    )

    ddl.create_index(_ix(AUDIT, "timecreated"), AUDIT, ["timecreated"])

    ddl.add_column(CLOUD_JOBS, sa.Column("courseid", sa.BigInteger))
    ddl.add_column(CLOUD_JOBS, sa.Column("error_message", TEXT))
    # Revision 0001 had no key on jobid: recipients of a job that no longer exists mean nothing.
    recipients = sa.table(CLOUD_RECIPIENTS, sa.column("jobid"))
    jobs = sa.table(CLOUD_JOBS, sa.column("jobid"))
    op.execute(recipients.delete().where(recipients.c.jobid.not_in(sa.select(jobs.c.jobid))))

    for table, column, parent, parent_column, ondelete in CHANGED_KEYS + NEW_KEYS:
        ddl.set_foreign_key(table, _fk(table, column), column, parent, parent_column, ondelete)

    ddl.create_table(
        SETTINGS,
        _id(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", TEXT),
        sa.Column("timemodified", sa.BigInteger, nullable=False),
        sa.Index(_ix(SETTINGS, "name"), "name", unique=True),
        **MYSQL,
    )
    ddl.create_table(
        REPLAY,
        _id(),
        sa.Column("bodyhash", sa.String(64), nullable=False),
        sa.Column("jobid", sa.String(36)),
        sa.Column("timereceived", sa.BigInteger, nullable=False),
        sa.Index(_ix(REPLAY, "bodyhash"), "bodyhash", unique=True),
        sa.Index(_ix(REPLAY, "timereceived"), "timereceived"),
        **MYSQL,
    )


def _delete_where_null(table: str, column: str) -> None:
    target = sa.table(table, sa.column(column))
    op.execute(target.delete().where(target.c[column].is_(None)))


def _drop_columns(table: str, *columns: str, **alter: Any) -> None:
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.drop_column(column)
        for column, existing_type in alter.items():
            batch.alter_column(column, existing_type=existing_type, nullable=False)


def downgrade() -> None:
    op.drop_table(REPLAY)
    op.drop_table(SETTINGS)
    op.drop_table(DELIVERIES)

    for table, column, *_ in NEW_KEYS:
        ddl.drop_foreign_key(table, _fk(table, column))
    for table, column, parent, parent_column, _ondelete in CHANGED_KEYS:
        ddl.set_foreign_key(table, _fk(table, column), column, parent, parent_column, None)

    _drop_columns(CLOUD_JOBS, "courseid", "error_message")
    op.drop_index(_ix(AUDIT, "timecreated"), AUDIT)
    _drop_columns(CACHE, "hits", "misses")
    op.drop_index(_ix(SCORM, "courseid"), SCORM)
    _drop_columns(SCORM, "courseid")
    _drop_columns(SESSIONS, "eventcount", "source")

    # MySQL would shrink a composite index that loses a column, so indexes go before columns.
    for columns in (("report", "timestarted"), ("scheduleid",), ("userid",), ("timestarted",)):
        op.drop_index(_ix(RUNS, *columns), RUNS)
    _delete_where_null(RUNS, "reportid")
    _drop_columns(RUNS, "report", "actinguser", "format", "outputpath", reportid=sa.BigInteger())

    _delete_where_null(RECIPIENTS, "userid")
    with op.batch_alter_table(RECIPIENTS) as batch:
        batch.drop_index(_ix(RECIPIENTS, "scheduleid", "userid"))
        batch.drop_index(_ix(RECIPIENTS, "scheduleid", "email"))
    _drop_columns(RECIPIENTS, "email", userid=sa.BigInteger())

    # Recipients first: the migration runs without SQLite's foreign key actions.
    schedules = sa.table(SCHEDULES, sa.column("id"), sa.column("reportid"))
    builtin = sa.select(schedules.c.id).where(schedules.c.reportid.is_(None))
    recipients = sa.table(RECIPIENTS, sa.column("scheduleid"))
    op.execute(recipients.delete().where(recipients.c.scheduleid.in_(builtin)))
    _delete_where_null(SCHEDULES, "reportid")
    _drop_columns(
        SCHEDULES,
        "report",
        "cron_expr",
        "at_time",
        "weekday",
        "monthday",
        "scope",
        "ownerid",
        "claimed_by",
        "claimed_until",
        "attempt",
        "last_run",
        reportid=sa.BigInteger(),
    )

    op.drop_index(_ix(CUSTOMREPORTS, "name"), CUSTOMREPORTS)
