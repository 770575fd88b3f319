"""The ManiReports plugin's tables, as its XMLDB definitions lay them out.

Revision ID: 0001
Revises:
Create Date: 2025-11-28

Columns, defaults, keys and indexes of the plugin's XMLDB definitions, with ids and timestamps
widened to BIGINT. Every XMLDB foreign key gets an index, as Moodle gives it one; keys to
manireports' own tables become real foreign keys, keys to Moodle's user and course tables cannot
(Moodle lives in another database).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from manireports.state import ddl

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
MYSQL = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _create(
    name: str,
    *columns: sa.Column[Any] | sa.ForeignKeyConstraint,
    indexes: Sequence[tuple[str, ...]] = (),
    unique: Sequence[tuple[str, ...]] = (),
) -> None:
    """Create a table, then its indexes named by the metadata's convention; each step is skipped
    when a killed earlier run already made it (manireports.state.ddl)."""
    ddl.create_table(name, *columns, **MYSQL)
    for fields, is_unique in [(f, True) for f in unique] + [(f, False) for f in indexes]:
        ddl.create_index(f"ix_{name}_{'_'.join(fields)}", name, fields, unique=is_unique)


def _fk(column: str, table: str, parent: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{parent}.id"], name=f"fk_{table}_{column}")


def upgrade() -> None:
    _create(
        "manireports_customreports",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", TEXT),
        sa.Column("type", sa.String(10), nullable=False, server_default="sql"),
        sa.Column("sqlquery", TEXT),
        sa.Column("configjson", TEXT),
        sa.Column("createdby", sa.BigInteger, nullable=False),
        sa.Column("timecreated", sa.BigInteger, nullable=False),
        sa.Column("timemodified", sa.BigInteger, nullable=False),
        indexes=[("type",), ("createdby",)],
    )
    _create(
        "manireports_schedules",
        _id(),
        sa.Column("reportid", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("frequency", sa.String(20), nullable=False),
        sa.Column("format", sa.String(10), nullable=False, server_default="csv"),
        sa.Column("paramsjson", TEXT),
        sa.Column("next_run", sa.BigInteger, nullable=False),
        sa.Column("active", sa.SmallInteger, nullable=False, server_default=sa.text("1")),
        sa.Column("createdby", sa.BigInteger, nullable=False),
        sa.Column("timecreated", sa.BigInteger, nullable=False),
        sa.Column("timemodified", sa.BigInteger, nullable=False),
        _fk("reportid", "manireports_schedules", "manireports_customreports"),
        indexes=[("next_run", "active"), ("reportid",)],
    )
    _create(
        "manireports_schedule_recipients",
        _id(),
        sa.Column("scheduleid", sa.BigInteger, nullable=False),
        sa.Column("userid", sa.BigInteger, nullable=False),
        _fk("scheduleid", "manireports_schedule_recipients", "manireports_schedules"),
        indexes=[("scheduleid",), ("userid",)],
    )
    _create(
        "manireports_report_runs",
        _id(),
        sa.Column("reportid", sa.BigInteger, nullable=False),
        sa.Column("scheduleid", sa.BigInteger),
        sa.Column("userid", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("paramsjson", TEXT),
        sa.Column("rowcount", sa.Integer),
        sa.Column("fileitemid", sa.BigInteger),
        sa.Column("error", TEXT),
        sa.Column("timestarted", sa.BigInteger, nullable=False),
        sa.Column("timefinished", sa.BigInteger),
        _fk("reportid", "manireports_report_runs", "manireports_customreports"),
        indexes=[("reportid", "timestarted"), ("status",)],
    )
    _create(
        "manireports_usertime_sessions",
        _id(),
        sa.Column("userid", sa.BigInteger, nullable=False),
        sa.Column("courseid", sa.BigInteger, nullable=False),
        sa.Column("sessionstart", sa.BigInteger, nullable=False),
        sa.Column("lastupdated", sa.BigInteger, nullable=False),
        sa.Column("duration", sa.Integer),
        indexes=[("userid", "courseid"), ("lastupdated",), ("courseid",)],
    )
    _create(
        "manireports_usertime_daily",
        _id(),
        sa.Column("userid", sa.BigInteger, nullable=False),
        sa.Column("courseid", sa.BigInteger, nullable=False),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("duration", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("sessioncount", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("lastupdated", sa.BigInteger, nullable=False),
        unique=[("userid", "courseid", "date")],
        indexes=[("date",), ("courseid",)],
    )
    _create(
        "manireports_scorm_summary",
        _id(),
        sa.Column("scormid", sa.BigInteger, nullable=False),
        sa.Column("userid", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("completed", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
        sa.Column("totaltime", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("score", sa.Numeric(10, 2)),
        sa.Column("lastaccess", sa.BigInteger),
        sa.Column("lastupdated", sa.BigInteger, nullable=False),
        unique=[("scormid", "userid")],
        indexes=[("userid",)],
    )
    _create(
        "manireports_cache_summary",
        _id(),
        sa.Column("cachekey", sa.String(255), nullable=False),
        sa.Column("reporttype", sa.String(50), nullable=False),
        sa.Column("referenceid", sa.BigInteger),
        sa.Column("datajson", TEXT, nullable=False),
        sa.Column("lastgenerated", sa.BigInteger, nullable=False),
        sa.Column("ttl", sa.Integer, nullable=False),
        unique=[("cachekey",)],
        indexes=[("reporttype",), ("lastgenerated",)],
    )
    _create(
        "manireports_dashboards",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", TEXT),
        sa.Column("scope", sa.String(20), nullable=False, server_default="personal"),
        sa.Column("companyid", sa.BigInteger),
        sa.Column("layoutjson", TEXT, nullable=False),
        sa.Column("createdby", sa.BigInteger, nullable=False),
        sa.Column("timecreated", sa.BigInteger, nullable=False),
        sa.Column("timemodified", sa.BigInteger, nullable=False),
        indexes=[("scope",), ("companyid",), ("createdby",)],
    )
    _create(
        "manireports_dashboard_widgets",
        _id(),
        sa.Column("dashboardid", sa.BigInteger, nullable=False),
        sa.Column("widgettype", sa.String(50), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("configjson", TEXT, nullable=False),
        _fk("dashboardid", "manireports_dashboard_widgets", "manireports_dashboards"),
        indexes=[("dashboardid",)],
    )
    _create(
        "manireports_audit_logs",
        _id(),
        sa.Column("userid", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("objecttype", sa.String(50), nullable=False),
        sa.Column("objectid", sa.BigInteger),
        sa.Column("details", TEXT),
        sa.Column("timecreated", sa.BigInteger, nullable=False),
        indexes=[("userid", "timecreated"), ("action",), ("objecttype", "objectid")],
    )
    _create(
        "manireports_cloud_jobs",
        _id(),
        sa.Column("jobid", sa.String(36), nullable=False),
        sa.Column("tenantid", sa.BigInteger),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("total_recipients", sa.Integer, nullable=False),
        sa.Column("completed_recipients", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("failed_recipients", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("payload_json", TEXT, nullable=False),
        sa.Column("createdby", sa.BigInteger, nullable=False),
        sa.Column("timecreated", sa.BigInteger, nullable=False),
        sa.Column("timestarted", sa.BigInteger),
        sa.Column("timecompleted", sa.BigInteger),
        unique=[("jobid",)],
        indexes=[("status",), ("tenantid",), ("createdby",)],
    )
    _create(
        "manireports_cloud_job_recipients",
        _id(),
        sa.Column("jobid", sa.String(36), nullable=False),
        sa.Column("userid", sa.BigInteger, nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("certificate_url", TEXT),
        sa.Column("error_message", TEXT),
        sa.Column("timesent", sa.BigInteger),
        unique=[("jobid", "userid")],
        indexes=[("status",), ("userid",)],
    )


def downgrade() -> None:
    for table in (
        "manireports_cloud_job_recipients",
        "manireports_cloud_jobs",
        "manireports_audit_logs",
        "manireports_dashboard_widgets",
        "manireports_dashboards",
        "manireports_cache_summary",
        "manireports_scorm_summary",
        "manireports_usertime_daily",
        "manireports_usertime_sessions",
        "manireports_report_runs",
        "manireports_schedule_recipients",
        "manireports_schedules",
        "manireports_customreports",
    ):
        ddl.drop_table(table)
