"""Functions a report may not call, by what they do.

Matched case-insensitively against the called name however the call is qualified
(`pg_catalog.pg_sleep` is `pg_sleep`), with `*` standing for any text. A function that is merely
expensive (randomblob, repeat) is left to the report timeout, and harmless information such as
version() is allowed: the list names what holds connections, takes locks, reaches files or other
databases, administers the server or runs SQL given as text, which this check could not see.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

# fmt: off
FORBIDDEN_FUNCTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sleeps or waits, holding a database connection", (
        "sleep", "pg_sleep*", "benchmark", "master_pos_wait", "source_pos_wait",
        "master_gtid_wait", "wait_for_executed_gtid_set", "wait_until_sql_thread_after_gtids",
    )),
    ("takes or releases a lock", (
        "get_lock", "release_lock", "release_all_locks", "pg_advisory*", "pg_try_advisory*",
    )),
    ("reads or writes files on the database server", (
        "load_file", "pg_read_file", "pg_read_binary_file", "pg_ls_*", "pg_stat_file",
        "pg_file_*", "pg_current_logfile", "readfile", "writefile", "edit", "fsdir", "zipfile",
    )),
    ("reads or writes large objects", ("lo_*", "loread", "lowrite")),
    ("administers the database server", (
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
        "pg_switch_wal", "pg_promote", "pg_backup_*", "pg_start_backup", "pg_stop_backup",
        "pg_create_restore_point", "pg_stat_reset*", "pg_*replication*", "pg_logical_*",
        "pg_wal_replay_*", "pg_log_backend_memory_contexts", "pg_import_system_collations",
        "set_config", "current_setting", "pg_notify",
    )),
    ("changes a sequence", ("nextval", "setval")),
    ("runs SQL given as text, out of this check's sight, or reaches another database", (
        "dblink*", "query_to_xml*", "table_to_xml*", "cursor_to_xml*", "schema_to_xml*",
        "database_to_xml*", "ts_stat", "ts_rewrite", "eval",
    )),
    ("reads the database's own catalogue", ("pragma_*",)),
    ("runs operating-system commands or loads code", (
        "sys_exec", "sys_eval", "load_extension", "fts3_tokenizer",
    )),
)
# fmt: on


def forbidden_function(name: str) -> str | None:
    """What a function does that a report may not, if it is on the list."""
    lowered = name.lower()
    for reason, patterns in FORBIDDEN_FUNCTIONS:
        if any(fnmatchcase(lowered, pattern) for pattern in patterns):
            return reason
    return None
