"""The state database's tables: what the newest migration builds, as SQLAlchemy Core objects.

Names and columns follow the plugin's XMLDB definitions (Moodle conventions: `int` ids and Unix
timestamps, `char` and `text`), widened to BIGINT for ids and times, plus what the command-line
product needs: schedules of built-in reports, claims so that several cron hosts run a due schedule
once, per-recipient delivery state, watermarks and callback replay protection.

The migrations in `migrations/versions` are the source of truth for the deployed schema; this
module mirrors them for queries, and a test checks that Alembic's autogenerate sees no difference.
Columns that hold a Moodle user, course or activity id carry no foreign key: Moodle lives in
another database. Foreign keys between manireports' own tables cascade where a row only makes
sense with its parent, and set NULL where a history row (a run) should outlive what it ran.
"""

from __future__ import annotations

import sqlalchemy as sa

# Index and foreign key names are generated so that migrations, this module and every engine agree
# on them; Alembic needs names to alter constraints (SQLite batch mode reflects them by name).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class _LongText(sa.Text):
    """MySQL's LONGTEXT, compiled by the MySQL dialect's own rule for it.

    Not `sqlalchemy.dialects.mysql.LONGTEXT`: importing the MySQL dialect loads every MySQL
    driver's module (a few hundredths of a second for each command on a SQLite or PostgreSQL
    state database). Only the MySQL dialect compiles this variant, as the same LONGTEXT.
    """

    __visit_name__ = "LONGTEXT"


# Moodle maps XMLDB `text` to LONGTEXT on MySQL; plain TEXT stops at 64 KB, too small for cached
# results and report SQL.
TEXT = sa.Text().with_variant(_LongText(), "mysql", "mariadb")
# Unix seconds, as in Moodle.
TIME = sa.BigInteger()

# On MySQL the migrations create every table InnoDB (for foreign keys) in utf8mb4 whatever the
# server's default (so names such as 田中 survive); tests/test_state.py checks it. The options are
# not repeated on the tables here: no DDL is made from these objects, and a table given `mysql_*`
# options makes SQLAlchemy import the MySQL dialect, with every MySQL driver's module, in every
# command whatever the engine of the state database.


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


customreports = sa.Table(
    "manireports_customreports",
    metadata,
    _id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", TEXT),
    # 'sql' (report_customsql style SQL) or 'config' (built from configjson by the report builder).
    sa.Column("type", sa.String(10), nullable=False, server_default="sql"),
    sa.Column("sqlquery", TEXT),
    sa.Column("configjson", TEXT),
    sa.Column("createdby", sa.BigInteger, nullable=False),
    sa.Column("timecreated", TIME, nullable=False),
    sa.Column("timemodified", TIME, nullable=False),
    sa.Index(None, "type"),
    sa.Index(None, "createdby"),
    # `run-report NAME_OR_ID` must resolve a name to one report.
    sa.Index(None, "name", unique=True),
)

schedules = sa.Table(
    "manireports_schedules",
    metadata,
    _id(),
    # A custom report's id (which is what counts), or NULL for a built-in report. `report` is the
    # built-in report's name, or the custom report's name when the schedule was made, for display.
    # A custom report that a schedule uses cannot be deleted (the key restricts it).
    sa.Column(
        "reportid", sa.BigInteger, sa.ForeignKey("manireports_customreports.id"), nullable=True
    ),
    sa.Column("report", sa.String(255), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    # daily | weekly | monthly | cron
    sa.Column("frequency", sa.String(20), nullable=False),
    sa.Column("cron_expr", sa.String(100)),
    # HH:MM in the site timezone; weekday 0 = Monday; monthday 1..31 (31 = last day when shorter).
    sa.Column("at_time", sa.String(5)),
    sa.Column("weekday", sa.SmallInteger),
    sa.Column("monthday", sa.SmallInteger),
    sa.Column("format", sa.String(10), nullable=False, server_default="csv"),
    sa.Column("paramsjson", TEXT),
    sa.Column("next_run", TIME, nullable=False),
    sa.Column("active", sa.SmallInteger, nullable=False, server_default=sa.text("1")),
    # 'recipient': each Moodle-user recipient gets their own view; 'owner': everyone gets ownerid's.
    sa.Column("scope", sa.String(20), nullable=False, server_default="recipient"),
    sa.Column("ownerid", sa.BigInteger),
    sa.Column("createdby", sa.BigInteger, nullable=False),
    # Exactly-once execution across hosts: a run-due process claims a schedule with a conditional
    # UPDATE (claimed_until NULL or past) and owns it until claimed_until.
    sa.Column("claimed_by", sa.String(255)),
    sa.Column("claimed_until", TIME),
    # Failed attempts since the last success, for the retry backoff.
    sa.Column("attempt", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_run", TIME),
    sa.Column("timecreated", TIME, nullable=False),
    sa.Column("timemodified", TIME, nullable=False),
    # A run whose report has no rows mails nobody.
    sa.Column("skip_empty", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
    # When a failed occurrence is tried again; next_run stays the occurrence being delivered.
    sa.Column("retry_at", TIME),
    sa.Index(None, "next_run", "active"),
    sa.Index(None, "reportid"),
)

schedule_recipients = sa.Table(
    "manireports_schedule_recipients",
    metadata,
    _id(),
    sa.Column(
        "scheduleid",
        sa.BigInteger,
        sa.ForeignKey("manireports_schedules.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # A Moodle user (whose address is looked up at send time) or a plain email address.
    sa.Column("userid", sa.BigInteger),
    sa.Column("email", sa.String(255)),
    sa.Index(None, "scheduleid"),
    sa.Index(None, "userid"),
    sa.Index(None, "scheduleid", "userid", unique=True),
    sa.Index(None, "scheduleid", "email", unique=True),
)

report_runs = sa.Table(
    "manireports_report_runs",
    metadata,
    _id(),
    sa.Column(
        "reportid",
        sa.BigInteger,
        sa.ForeignKey("manireports_customreports.id", ondelete="SET NULL"),
        nullable=True,
    ),
    # The built-in report's name or the custom report's name at the time of the run.
    sa.Column("report", sa.String(255), nullable=False),
    sa.Column(
        "scheduleid",
        sa.BigInteger,
        sa.ForeignKey("manireports_schedules.id", ondelete="SET NULL"),
        nullable=True,
    ),
    # Who ran it, and as whom (--as-user) when that differs.
    sa.Column("userid", sa.BigInteger, nullable=False),
    sa.Column("actinguser", sa.BigInteger),
    # running | completed | failed
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("paramsjson", TEXT),
    sa.Column("format", sa.String(10)),
    sa.Column("rowcount", sa.Integer),
    sa.Column("fileitemid", sa.BigInteger),
    sa.Column("outputpath", TEXT),
    sa.Column("error", TEXT),
    sa.Column("timestarted", TIME, nullable=False),
    sa.Column("timefinished", TIME),
    sa.Index(None, "reportid", "timestarted"),
    sa.Index(None, "status"),
    sa.Index(None, "report", "timestarted"),
    sa.Index(None, "scheduleid"),
    sa.Index(None, "userid"),
    sa.Index(None, "timestarted"),
)

deliveries = sa.Table(
    "manireports_deliveries",
    metadata,
    _id(),
    sa.Column(
        "runid",
        sa.BigInteger,
        sa.ForeignKey("manireports_report_runs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # The address the report goes to; userid when it is a Moodle user's.
    sa.Column("recipient", sa.String(255), nullable=False),
    sa.Column("userid", sa.BigInteger),
    # pending | sending | sent | unconfirmed | skipped | failed: a pending delivery is retried,
    # so a mail outage loses nothing; `sending` is written just before SMTP DATA and one found
    # later (its process died) becomes `unconfirmed`, which is not sent again.
    sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("lasterror", TEXT),
    sa.Column("timesent", TIME),
    # The schedule occurrence (its next_run) delivered, so a retry skips who already got it.
    sa.Column("occurrence", TIME),
    # The mail's Message-ID header, known before the server is asked to take the mail.
    sa.Column("messageid", sa.String(255)),
    sa.Index(None, "runid", "recipient", unique=True),
    sa.Index(None, "occurrence"),
    sa.Index(None, "status"),
    sa.Index(None, "userid"),
)

usertime_sessions = sa.Table(
    "manireports_usertime_sessions",
    metadata,
    _id(),
    sa.Column("userid", sa.BigInteger, nullable=False),
    sa.Column("courseid", sa.BigInteger, nullable=False),
    sa.Column("sessionstart", TIME, nullable=False),
    sa.Column("lastupdated", TIME, nullable=False),
    # Seconds, set when the session closes: NULL means the session is still open.
    sa.Column("duration", sa.Integer),
    # Events seen, so a one-event session can count [time_tracking] single_event_seconds.
    sa.Column("eventcount", sa.Integer, nullable=False, server_default=sa.text("0")),
    # 'log' (time sync) or 'heartbeat'.
    sa.Column("source", sa.String(10), nullable=False, server_default="log"),
    sa.Index(None, "userid", "courseid"),
    sa.Index(None, "lastupdated"),
    sa.Index(None, "courseid"),
)

usertime_daily = sa.Table(
    "manireports_usertime_daily",
    metadata,
    _id(),
    sa.Column("userid", sa.BigInteger, nullable=False),
    sa.Column("courseid", sa.BigInteger, nullable=False),
    # YYYY-MM-DD in the site timezone.
    sa.Column("date", sa.String(10), nullable=False),
    sa.Column("duration", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("sessioncount", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("lastupdated", TIME, nullable=False),
    sa.Index(None, "userid", "courseid", "date", unique=True),
    sa.Index(None, "date"),
    sa.Index(None, "courseid", "date"),
)

scorm_summary = sa.Table(
    "manireports_scorm_summary",
    metadata,
    _id(),
    sa.Column("scormid", sa.BigInteger, nullable=False),
    # The state database cannot join Moodle's, so the course is kept for scoping.
    sa.Column("courseid", sa.BigInteger),
    sa.Column("userid", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("completed", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("totaltime", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("score", sa.Numeric(10, 2, asdecimal=False)),
    sa.Column("lastaccess", TIME),
    sa.Column("lastupdated", TIME, nullable=False),
    sa.Index(None, "scormid", "userid", unique=True),
    sa.Index(None, "userid"),
    sa.Index(None, "courseid"),
)

cache_summary = sa.Table(
    "manireports_cache_summary",
    metadata,
    _id(),
    # reporttype_referenceid_filtershash
    sa.Column("cachekey", sa.String(255), nullable=False),
    sa.Column("reporttype", sa.String(50), nullable=False),
    sa.Column("referenceid", sa.BigInteger),
    sa.Column("datajson", TEXT, nullable=False),
    sa.Column("lastgenerated", TIME, nullable=False),
    # Seconds after lastgenerated during which the entry is fresh.
    sa.Column("ttl", sa.Integer, nullable=False),
    # Reads answered by this entry, and reads that found it missing or stale; `cache stats`
    # derives the hit rate from their sums.
    sa.Column("hits", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("misses", sa.Integer, nullable=False, server_default=sa.text("0")),
    # Index probes of the Moodle data the entry was computed from (manireports.reports.caching);
    # an entry that no longer matches Moodle is not served. Invalidations count those reads.
    sa.Column("fingerprint", sa.String(255)),
    sa.Column("invalidations", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Index(None, "cachekey", unique=True),
    sa.Index(None, "reporttype"),
    sa.Index(None, "lastgenerated"),
)

dashboards = sa.Table(
    "manireports_dashboards",
    metadata,
    _id(),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", TEXT),
    sa.Column("scope", sa.String(20), nullable=False, server_default="personal"),
    sa.Column("companyid", sa.BigInteger),
    sa.Column("layoutjson", TEXT, nullable=False),
    sa.Column("createdby", sa.BigInteger, nullable=False),
    sa.Column("timecreated", TIME, nullable=False),
    sa.Column("timemodified", TIME, nullable=False),
    sa.Index(None, "scope"),
    sa.Index(None, "companyid"),
    sa.Index(None, "createdby"),
)

dashboard_widgets = sa.Table(
    "manireports_dashboard_widgets",
    metadata,
    _id(),
    sa.Column(
        "dashboardid",
        sa.BigInteger,
        sa.ForeignKey("manireports_dashboards.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("widgettype", sa.String(50), nullable=False),
    sa.Column("title", sa.String(255), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("configjson", TEXT, nullable=False),
    sa.Index(None, "dashboardid"),
)

audit_logs = sa.Table(
    "manireports_audit_logs",
    metadata,
    _id(),
    sa.Column("userid", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(50), nullable=False),
    sa.Column("objecttype", sa.String(50), nullable=False),
    sa.Column("objectid", sa.BigInteger),
    # JSON with secrets masked (see manireports.state.audit).
    sa.Column("details", TEXT),
    sa.Column("timecreated", TIME, nullable=False),
    sa.Index(None, "userid", "timecreated"),
    sa.Index(None, "action"),
    sa.Index(None, "objecttype", "objectid"),
    sa.Index(None, "timecreated"),
)

cloud_jobs = sa.Table(
    "manireports_cloud_jobs",
    metadata,
    _id(),
    # The job contract's job_id (a UUID).
    sa.Column("jobid", sa.String(36), nullable=False),
    sa.Column("tenantid", sa.BigInteger),
    sa.Column("type", sa.String(50), nullable=False),
    sa.Column("courseid", sa.BigInteger),
    sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("total_recipients", sa.Integer, nullable=False),
    sa.Column("completed_recipients", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("failed_recipients", sa.Integer, nullable=False, server_default=sa.text("0")),
    # The submitted job without its callback_secret: the secret never rests in this table.
    sa.Column("payload_json", TEXT, nullable=False),
    # Why submission failed, when it did.
    sa.Column("error_message", TEXT),
    sa.Column("createdby", sa.BigInteger, nullable=False),
    sa.Column("timecreated", TIME, nullable=False),
    sa.Column("timestarted", TIME),
    sa.Column("timecompleted", TIME),
    sa.Index(None, "jobid", unique=True),
    sa.Index(None, "status"),
    sa.Index(None, "tenantid"),
    sa.Index(None, "createdby"),
)

cloud_job_recipients = sa.Table(
    "manireports_cloud_job_recipients",
    metadata,
    _id(),
    sa.Column(
        "jobid",
        sa.String(36),
        sa.ForeignKey("manireports_cloud_jobs.jobid", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("userid", sa.BigInteger, nullable=False),
    sa.Column("email", sa.String(255), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("certificate_url", TEXT),
    sa.Column("error_message", TEXT),
    sa.Column("timesent", TIME),
    sa.Index(None, "jobid", "userid", unique=True),
    sa.Index(None, "status"),
    sa.Index(None, "userid"),
)

settings = sa.Table(
    "manireports_settings",
    metadata,
    _id(),
    # Dotted names, e.g. 'timetracking.lastlogid' (the standard-log watermark).
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("value", TEXT),
    sa.Column("timemodified", TIME, nullable=False),
    sa.Index(None, "name", unique=True),
)

callback_replay = sa.Table(
    "manireports_callback_replay",
    metadata,
    _id(),
    # Hex SHA-256 of an accepted callback's raw body: the same signed body is accepted once.
    sa.Column("bodyhash", sa.String(64), nullable=False),
    sa.Column("jobid", sa.String(36)),
    sa.Column("timereceived", TIME, nullable=False),
    sa.Index(None, "bodyhash", unique=True),
    sa.Index(None, "timereceived"),
)

job_runs = sa.Table(
    "manireports_job_runs",
    metadata,
    _id(),
    # The cron job's name, as in `manireports jobs NAME`.
    sa.Column("job", sa.String(50), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    # running | ok | failed: a run killed without unwinding stays 'running'.
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("error", TEXT),
    sa.Column("timestarted", TIME, nullable=False),
    sa.Column("timefinished", TIME),
    sa.Index(None, "job", "timestarted"),
    sa.Index(None, "timestarted"),
)

job_alerts = sa.Table(
    "manireports_job_alerts",
    metadata,
    _id(),
    sa.Column("job", sa.String(50), nullable=False),
    # Failed runs in a row; a successful run resets it.
    sa.Column("failures", sa.Integer, nullable=False, server_default=sa.text("0")),
    # 1 from the failure alert until the recovery mail: the flag one host wins by a conditional
    # UPDATE, so several hosts never send the same alert.
    sa.Column("alerting", sa.SmallInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("timemodified", TIME, nullable=False),
    sa.Index(None, "job", unique=True),
)
