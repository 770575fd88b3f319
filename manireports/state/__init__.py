"""manireports' own database: schema, migrations, audit log and run history.

Everything manireports remembers lives here, apart from Moodle's database, which it only reads:
custom reports, schedules, runs, time tracking, caches, dashboards, the audit log and cloud jobs.
Import the table objects from `manireports.state.tables`.
"""

from __future__ import annotations

from manireports.state.audit import list_audit, record_audit, redact
from manireports.state.runs import finish_run, get_run, list_runs, start_run
from manireports.state.store import (
    StateDB,
    StateDescription,
    head_revision,
    read_setting,
    transaction,
    write_setting,
)

__all__ = [
    "StateDB",
    "StateDescription",
    "finish_run",
    "get_run",
    "head_revision",
    "list_audit",
    "list_runs",
    "read_setting",
    "record_audit",
    "redact",
    "start_run",
    "transaction",
    "write_setting",
]
