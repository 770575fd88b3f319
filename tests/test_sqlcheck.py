"""The custom-SQL check: what it refuses, what it must not refuse, and what it
returns. Cases run in every dialect they are valid in, so a rule that holds on one database and
not on another shows up as a failing case, not as a surprise on a customer's site."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from manireports.config import ReportsSection
from manireports.errors import ConfigError, InputError
from manireports.sqlcheck import (
    RULES,
    CheckedSQL,
    Dialect,
    SqlPolicy,
    SQLRejectedError,
    check_custom_sql,
)

ALL: tuple[Dialect, ...] = ("mysql", "postgres", "sqlite")
MYSQL: tuple[Dialect, ...] = ("mysql",)
POSTGRES: tuple[Dialect, ...] = ("postgres",)
SQLITE: tuple[Dialect, ...] = ("sqlite",)

POLICY = SqlPolicy(
    prefix="mdl_",
    denied_tables=frozenset(ReportsSection().denied_tables),
    denied_columns=frozenset(ReportsSection().denied_columns),
)


@dataclass(frozen=True)
class Refused:
    name: str
    sql: str
    rule: str
    fragment: str  # must appear (in any case) in the error's fragment
    dialects: tuple[Dialect, ...] = ALL


@dataclass(frozen=True)
class Accepted:
    name: str
    sql: str
    tables: frozenset[str]
    dialects: tuple[Dialect, ...] = ALL


REFUSED = [
    # Statements other than one SELECT.
    Refused(
        "delete",
        "DELETE FROM {user} WHERE id = 1",
        "data-modifying statement",
        "DELETE FROM {user}",
    ),
    Refused(
        "update", "UPDATE {user} SET firstname = 'x'", "data-modifying statement", "UPDATE {user}"
    ),
    Refused(
        "insert",
        "INSERT INTO {course} (fullname) VALUES ('x')",
        "data-modifying statement",
        "INSERT INTO",
    ),
    Refused(
        "replace",
        "REPLACE INTO {course} (id) VALUES (1)",
        "data-modifying statement",
        "REPLACE INTO",
        MYSQL + SQLITE,
    ),
    Refused(
        "truncate", "TRUNCATE TABLE {logstore_standard_log}", "data-modifying statement", "TRUNCATE"
    ),
    Refused(
        "merge",
        "MERGE INTO {course} c USING {course} d ON c.id = d.id "
        "WHEN MATCHED THEN UPDATE SET visible = 0",
        "data-modifying statement",
        "MERGE INTO {course}",
        POSTGRES,
    ),
    Refused(
        "load data",
        "LOAD DATA INFILE '/tmp/u.csv' INTO TABLE {user}",
        "data-modifying statement",
        "LOAD DATA",
        MYSQL,
    ),
    Refused("drop", "DROP TABLE {user}", "schema change", "DROP TABLE {user}"),
    Refused("create", "CREATE TABLE {copy} AS SELECT 1", "schema change", "CREATE TABLE"),
    Refused("alter", "ALTER TABLE {user} ADD COLUMN x INT", "schema change", "ALTER TABLE {user}"),
    Refused(
        "grant", "GRANT SELECT ON {user} TO reporter", "schema change", "GRANT", MYSQL + POSTGRES
    ),
    Refused("set", "SET @x = 1", "not a select", "SET @x = 1", MYSQL),
    Refused("set config", "SET search_path = evil", "not a select", "SET search_path", POSTGRES),
    Refused("call", "CALL cleanup()", "not a select", "CALL cleanup()", MYSQL + POSTGRES),
    Refused("exec", "EXEC sp_who", "not a select", "EXEC sp_who"),
    Refused("pragma", "PRAGMA writable_schema = 1", "not a select", "PRAGMA", SQLITE),
    Refused(
        "attach", "ATTACH DATABASE '/tmp/x.db' AS x", "not a select", "ATTACH DATABASE", SQLITE
    ),
    Refused("detach", "DETACH DATABASE x", "not a select", "DETACH", SQLITE),
    Refused("copy", "COPY {user} TO '/tmp/users.csv'", "not a select", "COPY {user}", POSTGRES),
    Refused("handler", "HANDLER {user} OPEN", "not a select", "HANDLER {user} OPEN", MYSQL),
    Refused("do", "DO SLEEP(5)", "not a select", "DO SLEEP(5)", MYSQL),
    Refused("do block", "DO $$ BEGIN PERFORM 1; END $$", "not a select", "DO $$", POSTGRES),
    Refused("vacuum", "VACUUM", "not a select", "VACUUM", POSTGRES + SQLITE),
    Refused(
        "explain analyze", "EXPLAIN ANALYZE DELETE FROM {log}", "not a select", "EXPLAIN", POSTGRES
    ),
    Refused("show", "SHOW TABLES", "not a select", "SHOW TABLES", MYSQL),
    Refused("typo", "SELEC id FROM {course}", "not a select", "SELEC id"),
    Refused(
        "delete in cte",
        "WITH d AS (DELETE FROM {logstore_standard_log} RETURNING *) SELECT * FROM d",
        "data-modifying CTE",
        "DELETE FROM {logstore_standard_log}",
        POSTGRES,
    ),
    Refused(
        "update in cte",
        "WITH u AS (UPDATE {user} SET suspended = 1 RETURNING id) SELECT id FROM u",
        "data-modifying CTE",
        "UPDATE {user}",
        POSTGRES,
    ),
    Refused(
        "cte before delete",
        "WITH x AS (SELECT 1 AS id) DELETE FROM {log} WHERE id IN (SELECT id FROM x)",
        "data-modifying statement",
        "DELETE FROM {log}",
        POSTGRES,
    ),
    Refused("two selects", "SELECT 1; SELECT 2", "multiple statements", "SELECT 2"),
    Refused(
        "select then drop",
        "SELECT id FROM {course};\nDROP TABLE {user};",
        "multiple statements",
        "DROP TABLE {user}",
    ),
    # Reads that lock or write.
    Refused(
        "for update",
        "SELECT id FROM {course} FOR UPDATE",
        "locking read",
        "FOR UPDATE",
        MYSQL + POSTGRES,
    ),
    Refused(
        "for share",
        "SELECT id FROM {course} FOR SHARE",
        "locking read",
        "FOR SHARE",
        MYSQL + POSTGRES,
    ),
    Refused(
        "lock in share mode",
        "SELECT id FROM {course} LOCK IN SHARE MODE",
        "locking read",
        "SHARE",
        MYSQL,
    ),
    Refused(
        "nested for update",
        "SELECT c.id FROM {course} c WHERE c.id IN (SELECT id FROM {course} FOR NO KEY UPDATE)",
        "locking read",
        "UPDATE",
        POSTGRES,
    ),
    Refused(
        "into variable", "SELECT id INTO @v FROM {course} LIMIT 1", "select into", "INTO @v", MYSQL
    ),
    Refused(
        "into table", "SELECT id INTO backup FROM {course}", "select into", "INTO backup", POSTGRES
    ),
    Refused(
        "into outfile",
        "SELECT id FROM {course}\nINTO OUTFILE '/tmp/c.csv'",
        "select into",
        "INTO OUTFILE '/tmp/c.csv'",
        MYSQL,
    ),
    Refused(
        "into dumpfile",
        "SELECT id FROM {course} INTO DUMPFILE '/tmp/c'",
        "select into",
        "INTO DUMPFILE",
        MYSQL,
    ),
    # Functions.
    Refused("sleep", "SELECT SLEEP(5)", "forbidden function", "SLEEP(5)", MYSQL),
    Refused(
        "sleep in where",
        "SELECT id FROM {course} WHERE id = 1 AND sleep(5) = 0",
        "forbidden function",
        "sleep(5)",
        MYSQL,
    ),
    Refused("pg_sleep", "SELECT pg_sleep(5)", "forbidden function", "pg_sleep(5)", POSTGRES),
    Refused(
        "qualified pg_sleep_for",
        "SELECT pg_catalog.pg_sleep_for('5 minutes')",
        "forbidden function",
        "pg_sleep_for",
        POSTGRES,
    ),
    Refused(
        "benchmark",
        "SELECT BENCHMARK(1000000, MD5('x'))",
        "forbidden function",
        "BENCHMARK(",
        MYSQL,
    ),
    Refused(
        "load_file",
        "SELECT LOAD_FILE('/etc/passwd')",
        "forbidden function",
        "LOAD_FILE('/etc/passwd')",
        MYSQL,
    ),
    Refused(
        "pg_read_file",
        "SELECT pg_read_file('/etc/passwd')",
        "forbidden function",
        "pg_read_file",
        POSTGRES,
    ),
    Refused(
        "pg_ls_dir in from",
        "SELECT f FROM pg_ls_dir('.') AS f",
        "forbidden function",
        "pg_ls_dir('.')",
        POSTGRES,
    ),
    Refused(
        "lo_import", "SELECT lo_import('/etc/passwd')", "forbidden function", "lo_import", POSTGRES
    ),
    Refused(
        "dblink",
        "SELECT x FROM dblink('host=evil', 'SELECT 1') AS t(x INT)",
        "forbidden function",
        "dblink(",
        POSTGRES,
    ),
    Refused(
        "pg_terminate_backend",
        "SELECT pg_terminate_backend(42)",
        "forbidden function",
        "pg_terminate_backend",
        POSTGRES,
    ),
    Refused(
        "set_config",
        "SELECT set_config('search_path', 'evil', FALSE)",
        "forbidden function",
        "set_config",
        POSTGRES,
    ),
    Refused(
        "current_setting",
        "SELECT current_setting('data_directory')",
        "forbidden function",
        "current_setting",
        POSTGRES,
    ),
    Refused(
        "pg_advisory_lock",
        "SELECT pg_advisory_lock(1)",
        "forbidden function",
        "pg_advisory_lock",
        POSTGRES,
    ),
    Refused("get_lock", "SELECT GET_LOCK('x', 10)", "forbidden function", "GET_LOCK", MYSQL),
    Refused(
        "query_to_xml",
        "SELECT query_to_xml('SELECT password FROM mdl_user', TRUE, TRUE, '')",
        "forbidden function",
        "query_to_xml",
        POSTGRES,
    ),
    Refused(
        "nextval", "SELECT nextval('mdl_course_id_seq')", "forbidden function", "nextval", POSTGRES
    ),
    Refused(
        "load_extension",
        "SELECT load_extension('/tmp/evil.so')",
        "forbidden function",
        "load_extension",
        SQLITE,
    ),
    Refused(
        "writefile", "SELECT writefile('/tmp/x', 'y')", "forbidden function", "writefile", SQLITE
    ),
    # The database's own catalogue and qualified names.
    Refused(
        "information_schema",
        "SELECT table_name FROM information_schema.tables",
        "system schema",
        "information_schema.tables",
    ),
    Refused(
        "mysql.user",
        "SELECT authentication_string FROM mysql.user",
        "system schema",
        "mysql.user",
        MYSQL,
    ),
    Refused(
        "performance_schema",
        "SELECT * FROM performance_schema.threads",
        "system schema",
        "performance_schema",
        MYSQL,
    ),
    Refused("pg_shadow", "SELECT usename, passwd FROM pg_shadow", "system schema", "pg_shadow"),
    Refused(
        "pg_catalog",
        "SELECT rolpassword FROM pg_catalog.pg_authid",
        "system schema",
        "pg_catalog.pg_authid",
        POSTGRES,
    ),
    Refused("sqlite_master", "SELECT sql FROM sqlite_master", "system schema", "sqlite_master"),
    Refused(
        "qualified placeholder",
        "SELECT id FROM moodle.{course}",
        "qualified table",
        "moodle.{course}",
    ),
    Refused(
        "qualified literal",
        "SELECT id FROM public.mdl_course",
        "qualified table",
        "public.mdl_course",
        POSTGRES,
    ),
    # Tables.
    Refused(
        "hard-coded prefix", "SELECT id, username FROM mdl_user", "hard-coded prefix", "mdl_user"
    ),
    Refused("unprefixed table", "SELECT id FROM course", "not a Moodle table", "course"),
    Refused(
        "cte used before its definition",
        "WITH a AS (SELECT id FROM b), b AS (SELECT id FROM {course}) SELECT id FROM a",
        "not a Moodle table",
        "b",
    ),
    Refused(
        "non-recursive self reference",
        "WITH x AS (SELECT id FROM x) SELECT id FROM x",
        "not a Moodle table",
        "x",
    ),
    Refused(
        "cte spelled differently",
        "WITH Active AS (SELECT id FROM {course}) SELECT id FROM active",
        "not a Moodle table",
        "active",
        MYSQL + SQLITE,
    ),
    Refused("sessions", "SELECT s.sid FROM {sessions} s", "denied table", "{sessions}"),
    Refused(
        "external_tokens",
        "SELECT token FROM {external_tokens}",
        "denied table",
        "{external_tokens}",
    ),
    Refused(
        "cte hiding a denied table",
        "WITH {sessions} AS (SELECT sid FROM {sessions}) SELECT sid FROM {sessions}",
        "denied table",
        "{sessions}",
    ),
    # Columns.
    Refused(
        "qualified password", "SELECT u.id, u.password FROM {user} u", "denied column", "u.password"
    ),
    Refused("unqualified password", "SELECT id, password FROM {user}", "denied column", "password"),
    Refused(
        "secret in where",
        "SELECT c.id FROM {course} c JOIN {user} u ON u.id = c.id WHERE u.secret = 'x'",
        "denied column",
        "u.secret",
    ),
    Refused(
        "password in count",
        "SELECT COUNT(*) FROM {user} WHERE password LIKE '$2y$%'",
        "denied column",
        "password",
    ),
    Refused(
        "password in order by",
        "SELECT u.id FROM {user} u ORDER BY u.password",
        "denied column",
        "u.password",
    ),
    Refused(
        "password in exists",
        "SELECT c.id FROM {course} c WHERE EXISTS "
        "(SELECT 1 FROM {user} u WHERE u.id = c.id AND u.password = '')",
        "denied column",
        "u.password",
    ),
    Refused(
        "correlated password",
        "SELECT (SELECT u.password) AS p FROM {user} u",
        "denied column",
        "u.password",
    ),
    Refused(
        "password in derived table",
        "SELECT x.id FROM (SELECT u.id, u.password AS p FROM {user} u) x",
        "denied column",
        "u.password",
    ),
    Refused(
        "password in cte",
        "WITH creds AS (SELECT username, password FROM {user}) SELECT username FROM creds",
        "denied column",
        "password",
    ),
    Refused("config value", "SELECT name, value FROM {config}", "denied column", "value"),
    Refused(
        "table-qualified password",
        "SELECT {user}.password FROM {user}",
        "denied column",
        "{user}.password",
    ),
    Refused(
        "using password",
        "SELECT a.id FROM {user} a JOIN {user} b USING (password)",
        "denied column",
        "USING (password)",
    ),
    Refused(
        "natural join",
        "SELECT a.id FROM {user} a NATURAL JOIN {user} b",
        "denied column",
        "NATURAL JOIN",
    ),
    Refused(
        "renamed by alias",
        "SELECT t.x FROM {user} AS t(id, auth, x)",
        "denied column",
        "{user} AS t(id, auth, x)",
        POSTGRES,
    ),
    Refused("double-quoted password", 'SELECT "password" FROM {user}', "denied column", "password"),
    Refused(
        "backquoted password",
        "SELECT `u`.`password` FROM {user} `u`",
        "denied column",
        "password",
        MYSQL,
    ),
    # Qualifiers that name the real, prefixed table or nothing at all: every spelling a database
    # accepts for the table `{user}` reads, and qualifiers no FROM clause defines.
    Refused(
        "prefixed qualifier",
        "SELECT mdl_user.username, mdl_user.password FROM {user}",
        "denied column",
        "mdl_user.password",
    ),
    Refused(
        "prefixed qualifier in upper case",
        "SELECT MDL_USER.PASSWORD FROM {user}",
        "denied column",
        "password",
    ),
    Refused(
        "backquoted prefixed qualifier",
        "SELECT `mdl_user`.`password` FROM {user}",
        "denied column",
        "password",
        MYSQL,
    ),
    Refused(
        "double-quoted prefixed qualifier",
        'SELECT "mdl_user"."password" FROM {user}',
        "denied column",
        "password",
    ),
    Refused(
        "database-qualified column",
        "SELECT moodle.mdl_user.password FROM {user}",
        "denied column",
        "password",
    ),
    Refused(
        "schema-qualified column",
        "SELECT public.mdl_user.secret FROM {user}",
        "denied column",
        "secret",
        POSTGRES,
    ),
    Refused(
        "prefixed qualifier in a where clause",
        "SELECT u.id FROM {user} u WHERE mdl_user.password LIKE '$2y$%'",
        "denied column",
        "password",
    ),
    Refused(
        "prefixed qualifier from a subquery",
        "SELECT c.id, (SELECT MAX(mdl_user.password) FROM {user}) AS x FROM {course} c",
        "denied column",
        "password",
    ),
    Refused(
        "prefixed qualifier reaching an outer table",
        "SELECT mdl_user.id FROM {user} WHERE EXISTS (SELECT 1 FROM {course} c "
        "WHERE c.fullname = mdl_user.password)",
        "denied column",
        "password",
    ),
    Refused(
        "prefixed star",
        "SELECT mdl_user.* FROM {user}",
        "star over denied column",
        "mdl_user.*",
    ),
    Refused(
        "qualifier naming a table not in from: tokens",
        "SELECT mdl_external_tokens.token FROM {course}",
        "unresolved qualifier",
        "mdl_external_tokens.token",
    ),
    Refused(
        "qualifier naming a table not in from: sessions",
        "SELECT c.id, mdl_sessions.userid FROM {course} c",
        "unresolved qualifier",
        "mdl_sessions.userid",
    ),
    Refused(
        "qualifier naming a table not in from: config",
        "SELECT mdl_config.value FROM {course}",
        "unresolved qualifier",
        "mdl_config.value",
    ),
    Refused(
        "qualifier naming an alias of another query",
        "SELECT c.id FROM {course} c WHERE c.id IN (SELECT u.id FROM {user} u) AND u.auth = 'x'",
        "unresolved qualifier",
        "u.auth",
    ),
    Refused(
        "unprefixed name as qualifier",
        "SELECT user.password FROM {user}",
        "unresolved qualifier",
        "user.password",
    ),
    Refused(
        "alias shadowing the prefixed name",
        "SELECT mdl_user.password FROM {course} mdl_user JOIN {user} ON {user}.id = mdl_user.id",
        "denied column",
        "password",
    ),
    Refused(
        "row_to_json of the prefixed name",
        "SELECT row_to_json(mdl_user) FROM {user}",
        "whole-row reference",
        "mdl_user",
        POSTGRES,
    ),
    Refused(
        "to_jsonb of an alias",
        "SELECT to_jsonb(u) FROM {user} u",
        "whole-row reference",
        "u",
        POSTGRES,
    ),
    Refused(
        "to_json of the table placeholder",
        "SELECT to_json({user}) FROM {user}",
        "whole-row reference",
        "{user}",
        POSTGRES,
    ),
    Refused(
        "denied field of a whole row",
        "SELECT (u).password FROM {user} u",
        "denied column",
        "(u).password",
    ),
    Refused(
        "field of a whole row",
        "SELECT (u).username FROM {user} u",
        "whole-row reference",
        "u",
        POSTGRES,
    ),
    Refused(
        "double-quoted alias star on mysql",
        'SELECT "u".* FROM {user} u',
        "star over denied column",
        "'u'.*",
        MYSQL,
    ),
    Refused(
        "double-quoted alias and a bare denied column on mysql",
        'SELECT "u".password FROM {user} u',
        "denied column",
        "password",
        MYSQL,
    ),
    Refused(
        "whole row of config in a subquery",
        "SELECT c.id, (SELECT json_agg(cfg) FROM {config} cfg) FROM {course} c",
        "whole-row reference",
        "cfg",
        POSTGRES,
    ),
    Refused(
        "hstore of a whole row",
        "SELECT row_to_json(mdl_user)::text AS j FROM {user} WHERE mdl_user.id = 2",
        "whole-row reference",
        "mdl_user",
        POSTGRES,
    ),
    Refused(
        "select star", "SELECT * FROM {user}", "star over denied column", "SELECT * FROM {user}"
    ),
    Refused("alias star", "SELECT u.* FROM {user} u", "star over denied column", "u.*"),
    Refused(
        "star over a join",
        "SELECT * FROM {course} c JOIN {user} u ON u.id = c.id",
        "star over denied column",
        "SELECT *",
    ),
    Refused(
        "second alias star",
        "SELECT c.*, u.* FROM {course} c JOIN {user} u ON u.id = c.id",
        "star over denied column",
        "u.*",
    ),
    Refused(
        "config star",
        "SELECT * FROM {config} WHERE name = 'version'",
        "star over denied column",
        "{config}",
    ),
    Refused(
        "star in to_jsonb",
        "SELECT to_jsonb(u.*) FROM {user} u",
        "star over denied column",
        "u.*",
        POSTGRES,
    ),
    Refused(
        "row_to_json", "SELECT row_to_json(u) FROM {user} u", "whole-row reference", "u", POSTGRES
    ),
    Refused("whole row cast", "SELECT u::text FROM {user} u", "whole-row reference", "u", POSTGRES),
    # report_customsql tokens nothing fills in.
    Refused("flags", "SELECT id FROM {course} WHERE %%FLAGS%%", "unsupported token", "%%FLAGS%%"),
    # Text the database reads differently from a casual reader.
    Refused(
        "executable comment",
        "SELECT u.id /*!50000 , u.password */ FROM {user} u",
        "executable comment",
        "/*!50000 , u.password */",
        MYSQL,
    ),
    Refused(
        "mariadb executable comment", "SELECT 1 /*M! , 2 */", "executable comment", "/*M!", MYSQL
    ),
    Refused("unparseable", "SELECT FROM WHERE", "unparseable", "WHERE"),
    Refused(
        "unterminated string",
        "SELECT 'oops FROM {course}",
        "unparseable",
        'oops FROM {course}" at line 1, column 8',
    ),
    Refused("empty", "  \n ", "unparseable", "no SQL statement"),
    Refused("only a comment", "-- SELECT 1", "unparseable", "no SQL statement"),
    Refused(
        "capitalised placeholder",
        "SELECT id FROM {Course}",
        "unparseable",
        "'{' at line 1, column 16",
    ),
    Refused(
        "syntax error on a later line",
        "SELECT c.id,\n       c.fullname\n  FRM {course} c",
        "unparseable",
        "'{course}' at line 3, column 7",
    ),
    Refused(
        "string alias on postgres",
        "SELECT c.id AS 'Course id' FROM {course} c",
        "unparseable",
        "Course id'\" at line 1, column 16",
        POSTGRES,
    ),
    Refused(
        "two columns of one name",
        "SELECT u.id, c.id, u.username FROM {user} u JOIN {course} c ON c.id = u.id",
        "duplicate column names",
        "id",
    ),
    Refused(
        "two aliases of one name",
        "SELECT c.fullname AS name, cc.name FROM {course} c "
        "JOIN {course_categories} cc ON cc.id = c.category",
        "duplicate column names",
        "name",
    ),
    Refused(
        "one name in two cases on postgres",
        "SELECT c.id AS Course, c.fullname AS course FROM {course} c",
        "duplicate column names",
        "course",
        POSTGRES,
    ),
    Refused(
        "too deep", "SELECT " + "(" * 2000 + "1" + ")" * 2000, "unparseable", "nested too deeply"
    ),
]

ACCEPTED = [
    Accepted(
        "dangerous words in strings",
        "SELECT l.id FROM {logstore_standard_log} l WHERE l.crud = 'u' AND l.action = 'update' "
        "AND l.target <> 'delete'",
        frozenset({"logstore_standard_log"}),
    ),
    Accepted(
        "statements in a string",
        "SELECT 'DROP TABLE {user}; DELETE FROM mdl_user' AS note, c.id FROM {course} c",
        frozenset({"course"}),
    ),
    Accepted(
        "identifiers containing keywords",
        "SELECT u.id, u.deleted, u.timemodified, d.timeupdated, d.updatedby, d.createdby "
        "FROM {user} u JOIN {data_records} d ON d.userid = u.id WHERE u.deleted = 0",
        frozenset({"user", "data_records"}),
    ),
    Accepted(
        "comments with statements",
        "-- DROP TABLE {user}\nSELECT c.id /* DELETE FROM {course}; */ FROM {course} c -- UPDATE",
        frozenset({"course"}),
    ),
    Accepted(
        "cte",
        "WITH enrolled AS (SELECT ue.userid, e.courseid FROM {user_enrolments} ue "
        "JOIN {enrol} e ON e.id = ue.enrolid) "
        "SELECT courseid, COUNT(*) AS users FROM enrolled GROUP BY courseid",
        frozenset({"user_enrolments", "enrol"}),
    ),
    Accepted(
        "recursive cte",
        "WITH RECURSIVE tree AS (SELECT id, parent FROM {course_categories} WHERE parent = 0 "
        "UNION ALL SELECT cc.id, cc.parent FROM {course_categories} cc JOIN tree t "
        "ON cc.parent = t.id) SELECT id FROM tree",
        frozenset({"course_categories"}),
    ),
    Accepted(
        "cte named like a denied table",
        "WITH {sessions} AS (SELECT id FROM {course}) SELECT id FROM {sessions}",
        frozenset({"course"}),
    ),
    Accepted(
        "window function",
        "SELECT g.userid, g.finalgrade, RANK() OVER (PARTITION BY g.itemid "
        "ORDER BY g.finalgrade DESC) AS position FROM {grade_grades} g",
        frozenset({"grade_grades"}),
    ),
    Accepted(
        "case",
        "SELECT c.id, CASE WHEN c.visible = 1 THEN 'shown' ELSE 'hidden' END AS state "
        "FROM {course} c",
        frozenset({"course"}),
    ),
    Accepted(
        "union",
        "SELECT id, 'course' AS kind FROM {course} UNION ALL "
        "SELECT id, 'category' FROM {course_categories}",
        frozenset({"course", "course_categories"}),
    ),
    Accepted(
        "parenthesised union",
        "(SELECT id FROM {course}) UNION (SELECT id FROM {course_categories})",
        frozenset({"course", "course_categories"}),
    ),
    Accepted(
        "except",
        "SELECT userid FROM {user_enrolments} EXCEPT SELECT userid FROM {course_completions}",
        frozenset({"user_enrolments", "course_completions"}),
    ),
    Accepted(
        "subqueries",
        "SELECT u.id, (SELECT COUNT(*) FROM {logstore_standard_log} l WHERE l.userid = u.id) "
        "AS events FROM {user} u WHERE u.id IN (SELECT userid FROM {user_enrolments})",
        frozenset({"user", "logstore_standard_log", "user_enrolments"}),
    ),
    Accepted(
        "star under exists",
        "SELECT c.id FROM {course} c WHERE EXISTS (SELECT * FROM {user} u WHERE u.id = c.id)",
        frozenset({"course", "user"}),
    ),
    Accepted("star over a harmless table", "SELECT * FROM {course}", frozenset({"course"})),
    Accepted("count star over user", "SELECT COUNT(*) FROM {user}", frozenset({"user"})),
    Accepted(
        "report_customsql time tokens",
        "SELECT COUNT(*) FROM {logstore_standard_log} WHERE timecreated >= %%STARTTIME%% "
        "AND timecreated < %%ENDTIME%% AND userid <> %%USERID%%",
        frozenset({"logstore_standard_log"}),
    ),
    Accepted(
        "unknown percent words in a like pattern",
        "SELECT id FROM {course} WHERE shortname LIKE '%%ABC%%'",
        frozenset({"course"}),
    ),
    Accepted(
        "a prefixed name in a string",
        "SELECT 'mdl_user' AS t, 'manireports_user' AS u FROM {course}",
        frozenset({"course"}),
    ),
    Accepted(
        "alias resolution",
        "SELECT u.password FROM {user} x JOIN {course} u ON u.id = x.id",
        frozenset({"user", "course"}),
    ),
    Accepted(
        "unqualified name of another table's denied column",
        "SELECT c.id, value FROM {course} c JOIN {user_preferences} p ON p.userid = c.id",
        frozenset({"course", "user_preferences"}),
    ),
    Accepted(
        "cte name folded",
        "WITH Active AS (SELECT id FROM {course}) SELECT id FROM active",
        frozenset({"course"}),
        POSTGRES,
    ),
    Accepted(
        "postgres casts and functions",
        "SELECT c.id::text, to_timestamp(c.startdate)::date AS start, "
        "string_agg(u.username, ', ' ORDER BY u.username) AS users, "
        "COUNT(*) FILTER (WHERE u.suspended = 0) AS active "
        "FROM {course} c JOIN {user} u ON u.id = c.id "
        "WHERE to_timestamp(c.startdate) > now() - INTERVAL '1 year' "
        "GROUP BY c.id, c.startdate",
        frozenset({"course", "user"}),
        POSTGRES,
    ),
    Accepted(
        "postgres lateral and generate_series",
        "SELECT c.id, last.time, g FROM {course} c CROSS JOIN LATERAL "
        "(SELECT MAX(l.timecreated) AS time FROM {logstore_standard_log} l "
        "WHERE l.courseid = c.id) last CROSS JOIN generate_series(1, 3) AS g",
        frozenset({"course", "logstore_standard_log"}),
        POSTGRES,
    ),
    Accepted(
        "postgres date_trunc",
        "SELECT date_trunc('month', to_timestamp(l.timecreated)) AS month, COUNT(*) "
        "FROM {logstore_standard_log} l GROUP BY 1 ORDER BY 1",
        frozenset({"logstore_standard_log"}),
        POSTGRES,
    ),
    Accepted(
        "mysql backticks and group_concat",
        "SELECT `c`.`id`, GROUP_CONCAT(DISTINCT u.username ORDER BY u.username SEPARATOR ', ') "
        "AS users, FROM_UNIXTIME(c.startdate, '%Y-%m-%d') AS start "
        "FROM {course} `c` JOIN {user} u ON u.id = c.id GROUP BY c.id",
        frozenset({"course", "user"}),
        MYSQL,
    ),
    Accepted(
        "mysql dates",
        "SELECT DATE_FORMAT(FROM_UNIXTIME(l.timecreated), '%Y-%m') AS month, COUNT(*) "
        "FROM {logstore_standard_log} l "
        "WHERE l.timecreated > UNIX_TIMESTAMP(DATE_SUB(NOW(), INTERVAL 1 YEAR)) GROUP BY month",
        frozenset({"logstore_standard_log"}),
        MYSQL,
    ),
    Accepted(
        "mysql double-quoted string",
        'SELECT l.id FROM {logstore_standard_log} l WHERE l.action = "update"',
        frozenset({"logstore_standard_log"}),
        MYSQL,
    ),
    Accepted(
        "mysql dual and version",
        "SELECT VERSION() FROM DUAL",
        frozenset(),
        MYSQL,
    ),
    Accepted(
        "sqlite dates",
        "SELECT strftime('%Y-%m', datetime(l.timecreated, 'unixepoch')) AS month, COUNT(*) "
        "FROM {logstore_standard_log} l GROUP BY month",
        frozenset({"logstore_standard_log"}),
        SQLITE,
    ),
    Accepted("sqlite version", "SELECT sqlite_version()", frozenset(), SQLITE),
    Accepted(
        "output tokens in strings",
        "SELECT CONCAT('%%WWWROOT%%/course/view.php%%Q%%id=', c.id) AS link, "
        "'a%%C%%b%%S%%' AS marks FROM {course} c",
        frozenset({"course"}),
        MYSQL,
    ),
    Accepted(
        "output tokens in postgres strings",
        "SELECT '%%WWWROOT%%/user/profile.php%%Q%%id=' || u.id AS link FROM {user} u",
        frozenset({"user"}),
        POSTGRES,
    ),
    Accepted(
        "prefixed qualifier of an allowed column",
        "SELECT mdl_user.id, mdl_user.username FROM {user} WHERE mdl_user.deleted = 0",
        frozenset({"user"}),
    ),
    Accepted(
        "database-qualified allowed column",
        "SELECT moodle.mdl_course.fullname FROM {course}",
        frozenset({"course"}),
    ),
    Accepted(
        "correlated qualifier of an outer alias",
        "SELECT c.id FROM {course} c WHERE EXISTS (SELECT 1 FROM {enrol} e "
        "WHERE e.courseid = c.id)",
        frozenset({"course", "enrol"}),
    ),
    Accepted(
        "qualifier of a derived table",
        "SELECT d.n FROM (SELECT COUNT(*) AS n FROM {course}) d",
        frozenset({"course"}),
    ),
    Accepted(
        "whole row of a table without denied columns",
        "SELECT row_to_json(c) FROM {course} c",
        frozenset({"course"}),
        POSTGRES,
    ),
    Accepted(
        "same name in two cases on mysql",
        "SELECT c.id AS Course, c.fullname AS course FROM {course} c",
        frozenset({"course"}),
        MYSQL,
    ),
    Accepted(
        "string alias on mysql",
        "SELECT c.id AS 'Course id' FROM {course} c",
        frozenset({"course"}),
        MYSQL,
    ),
]


def _cases(cases: list[Refused] | list[Accepted]) -> Iterator[object]:
    for case in cases:
        for dialect in case.dialects:
            yield pytest.param(case, dialect, id=f"{dialect}-{case.name}")


@pytest.mark.parametrize(("case", "dialect"), list(_cases(REFUSED)))
def test_refused(case: Refused, dialect: Dialect) -> None:
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql(case.sql, dialect, POLICY)
    error = caught.value
    assert error.rule == case.rule, str(error)
    assert case.fragment.lower() in error.fragment.lower(), str(error)
    assert str(error).startswith(f"Rejected ({case.rule}): {error.fragment}")
    assert "manireports_" not in str(error)  # tables are shown as written, `{name}`


@pytest.mark.parametrize(("case", "dialect"), list(_cases(ACCEPTED)))
def test_accepted(case: Accepted, dialect: Dialect) -> None:
    checked = check_custom_sql(case.sql, dialect, POLICY)
    assert checked.tables == case.tables


def test_the_suite_exercises_every_rule() -> None:
    # These two need a schema or an allow-list; test_known_tables and test_allow_list cover them.
    needs_context = {"unknown table", "table not allowed"}
    assert {case.rule for case in REFUSED} | needs_context == set(RULES)
    assert len(REFUSED) >= 40
    assert len(ACCEPTED) >= 20


@pytest.mark.parametrize("dialect", ALL)
def test_checked_sql_keeps_moodle_conventions(dialect: Dialect) -> None:
    sql = (
        "-- Courses in a category\n"
        "SELECT c.id, c.fullname FROM {course} c\n"
        "WHERE c.category = :categoryid AND c.startdate >= :since AND c.shortname <> ':notme'\n"
        "  AND c.timecreated < %%ENDTIME%%;\n"
        "-- end\n"
    )
    checked = check_custom_sql(sql, dialect, POLICY)
    assert checked == CheckedSQL(
        sql=(
            "SELECT c.id, c.fullname FROM {course} c\n"
            "WHERE c.category = :categoryid AND c.startdate >= :since AND c.shortname <> ':notme'\n"
            "  AND c.timecreated < %%ENDTIME%%"
        ),
        tables=frozenset({"course"}),
        parameters=("categoryid", "since"),
        left_out=(),
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM {course};",
        "SELECT id FROM {course} ;;\n",
        "SELECT id FROM {course}; -- done",
        ";SELECT id FROM {course}",
    ],
)
def test_stray_semicolons_are_dropped(sql: str) -> None:
    assert check_custom_sql(sql, "mysql", POLICY).sql == "SELECT id FROM {course}"


def test_semicolon_in_a_string_is_not_a_statement_end() -> None:
    checked = check_custom_sql("SELECT 'a;b' AS x FROM {course};", "postgres", POLICY)
    assert checked.sql == "SELECT 'a;b' AS x FROM {course}"


def test_parameters_ignore_casts_and_literals() -> None:
    sql = "SELECT c.id::text FROM {course} c WHERE c.shortname = 'a:b' AND c.id = :courseid"
    assert check_custom_sql(sql, "postgres", POLICY).parameters == ("courseid",)


def test_parameters_in_order_of_first_use() -> None:
    sql = "SELECT id FROM {course} WHERE startdate BETWEEN :from AND :to OR enddate > :from"
    assert check_custom_sql(sql, "sqlite", POLICY).parameters == ("from", "to")


def test_hard_coded_prefix_names_the_placeholder() -> None:
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql("SELECT u.id FROM mdl_user u", "mysql", POLICY)
    assert "Write {user} instead of mdl_user so the configured prefix applies" in str(caught.value)


def test_hard_coded_prefix_follows_the_configured_prefix() -> None:
    policy = SqlPolicy(prefix="m2_")
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql("SELECT id FROM m2_course", "postgres", policy)
    assert caught.value.rule == "hard-coded prefix"
    assert "{course}" in str(caught.value)
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql("SELECT id FROM mdl_course", "postgres", policy)
    assert caught.value.rule == "not a Moodle table"


def test_empty_prefix_still_tells_placeholders_from_names() -> None:
    policy = SqlPolicy(prefix="")
    assert check_custom_sql("SELECT id FROM {course}", "sqlite", policy).tables == {"course"}
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql("SELECT id FROM course", "sqlite", policy)
    assert caught.value.rule == "not a Moodle table"


def test_marker_never_collides_with_the_text() -> None:
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql("SELECT id FROM manireports_course", "mysql", POLICY)
    assert caught.value.rule == "not a Moodle table"


def test_allow_list() -> None:
    policy = SqlPolicy(allowed_tables=frozenset({"course", "course_categories"}))
    sql = "SELECT c.id FROM {course} c JOIN {course_categories} cc ON cc.id = c.category"
    assert check_custom_sql(sql, "mysql", policy).tables == {"course", "course_categories"}
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql(
            "SELECT c.id FROM {course} c JOIN {user} u ON u.id = c.id", "mysql", policy
        )
    assert caught.value.rule == "table not allowed"
    assert caught.value.fragment == "{user} AS u"


def test_denied_table_wins_over_the_allow_list() -> None:
    policy = SqlPolicy(allowed_tables=frozenset({"sessions"}))
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql("SELECT sid FROM {sessions}", "postgres", policy)
    assert caught.value.rule == "denied table"


def test_known_tables() -> None:
    known = {"course", "user", "user_enrolments"}
    assert check_custom_sql("SELECT id FROM {course}", "postgres", POLICY, known).tables == {
        "course"
    }
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql("SELECT id FROM {coures}", "postgres", POLICY, known)
    assert caught.value.rule == "unknown table"
    assert "{coures}" in str(caught.value)


def test_an_empty_deny_list_allows_what_it_does_not_name() -> None:
    policy = SqlPolicy(denied_tables=frozenset(), denied_columns=frozenset())
    checked = check_custom_sql(
        "SELECT * FROM {user} u JOIN {sessions} s ON s.userid = u.id", "mysql", policy
    )
    assert checked.tables == {"user", "sessions"}


def test_custom_denied_column() -> None:
    policy = SqlPolicy(denied_columns=frozenset({"course.summary"}))
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql("SELECT c.summary FROM {course} c", "sqlite", policy)
    assert caught.value.rule == "denied column"
    assert "course.summary" in str(caught.value)
    assert check_custom_sql("SELECT u.password FROM {user} u", "sqlite", policy).tables == {"user"}


def test_policy_defaults_come_from_the_configuration() -> None:
    policy = SqlPolicy()
    assert policy.denied_tables == frozenset(ReportsSection().denied_tables)
    assert policy.denied_columns == frozenset(ReportsSection().denied_columns)
    assert policy.allowed_tables == frozenset()


@pytest.mark.parametrize("entry", ["password", "user.", ".password", "a.b.c"])
def test_policy_refuses_malformed_denied_columns(entry: str) -> None:
    with pytest.raises(ConfigError, match="denied_columns"):
        SqlPolicy(denied_columns=frozenset({entry}))


def test_error_names_the_line() -> None:
    sql = "-- header\n\nSELECT u.id,\n       u.firstname,\n       u.password\nFROM {user} u"
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql(sql, "postgres", POLICY)
    assert caught.value.line == 5
    assert "(line 5)" in str(caught.value)


def test_rejection_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        check_custom_sql("DROP TABLE {user}", "mysql", POLICY)
    assert caught.value.exit_code == 2


# -- stars over tables with denied columns are listed out ---------------------------------------

COLUMNS = {
    "user": ["id", "auth", "username", "password", "secret", "email"],
    "course": ["id", "fullname"],
    "config": ["id", "name", "value"],
}
LEFT_OUT = ("user.password", "user.secret")


@pytest.mark.parametrize("dialect", ALL)
@pytest.mark.parametrize(
    ("sql", "expected", "left_out"),
    [
        (
            "SELECT *\nFROM {user}\nWHERE deleted = :deleted",
            "SELECT {user}.id, {user}.auth, {user}.username, {user}.email\nFROM {user}\n"
            "WHERE deleted = :deleted",
            LEFT_OUT,
        ),
        (
            "SELECT u.* FROM {user} u",
            "SELECT u.id, u.auth, u.username, u.email FROM {user} u",
            LEFT_OUT,
        ),
        (
            "SELECT COUNT(*) * 2 AS n, u.* FROM {user} u GROUP BY u.id",
            "SELECT COUNT(*) * 2 AS n, u.id, u.auth, u.username, u.email FROM {user} u "
            "GROUP BY u.id",
            LEFT_OUT,
        ),
        (
            "SELECT d.* FROM (SELECT * FROM {user}) d",
            "SELECT d.* FROM (SELECT {user}.id, {user}.auth, {user}.username, {user}.email "
            "FROM {user}) d",
            LEFT_OUT,
        ),
        (
            "WITH people AS (SELECT * FROM {user}) SELECT * FROM people",
            "WITH people AS (SELECT {user}.id, {user}.auth, {user}.username, {user}.email "
            "FROM {user}) SELECT * FROM people",
            LEFT_OUT,
        ),
        (
            "SELECT *, 1 AS one FROM {config} WHERE name = 'version'",
            "SELECT {config}.id, {config}.name, 1 AS one FROM {config} WHERE name = 'version'",
            ("config.value",),
        ),
        (
            "SELECT mdl_user.* FROM {user}",
            "SELECT mdl_user.id, {user}.auth, {user}.username, {user}.email FROM {user}",
            LEFT_OUT,
        ),
        # Nothing to leave out, or nothing read: the text stays as written.
        ("SELECT * FROM {course}", "SELECT * FROM {course}", ()),
        (
            "SELECT c.id FROM {course} c WHERE EXISTS (SELECT * FROM {user} u WHERE u.id = c.id)",
            "SELECT c.id FROM {course} c WHERE EXISTS (SELECT * FROM {user} u WHERE u.id = c.id)",
            (),
        ),
    ],
)
def test_star_over_denied_columns_is_listed_out(
    dialect: Dialect, sql: str, expected: str, left_out: tuple[str, ...]
) -> None:
    checked = check_custom_sql(sql, dialect, POLICY, None, COLUMNS.get)
    assert checked.sql == expected
    assert checked.left_out == left_out
    # What was listed out is itself accepted as it stands, and leaves nothing more out.
    again = check_custom_sql(checked.sql, dialect, POLICY, None, COLUMNS.get)
    assert again.sql == checked.sql and again.left_out == ()


@pytest.mark.parametrize("dialect", ALL)
def test_star_over_a_table_of_unknown_columns_is_refused(dialect: Dialect) -> None:
    # enrol's columns are unknown here, so the star cannot be listed out.
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql(
            "SELECT * FROM {user} u JOIN {enrol} e ON e.id = u.id",
            dialect,
            POLICY,
            None,
            COLUMNS.get,
        )
    assert caught.value.rule == "star over denied column"


@pytest.mark.parametrize("dialect", ALL)
@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("SELECT c.*, u.* FROM {course} c JOIN {user} u ON u.id = c.id", "id"),
        ("SELECT * FROM {course} a JOIN {course} b ON b.id = a.id", "fullname, id"),
        ("SELECT c.*, c.fullname FROM {course} c", "fullname"),
        ("SELECT u.username, d.* FROM {user} u JOIN (SELECT 1 AS username) d ON 1 = 1", "username"),
    ],
)
def test_duplicate_names_through_stars(dialect: Dialect, sql: str, names: str) -> None:
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql(sql, dialect, POLICY, None, COLUMNS.get)
    assert caught.value.rule == "duplicate column names"
    assert caught.value.fragment == names


@pytest.mark.parametrize("dialect", ALL)
def test_duplicates_are_judged_only_where_known(dialect: Dialect) -> None:
    # Unnamed expressions get names from the database; this check leaves them to it.
    checked = check_custom_sql("SELECT COUNT(*), COUNT(*) FROM {course}", dialect, POLICY)
    assert checked.tables == frozenset({"course"})


def test_config_plugins_refusal_says_how_to_allow_it() -> None:
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql("SELECT plugin, name FROM {config_plugins}", "mysql", POLICY)
    assert caught.value.rule == "denied table"
    assert "[reports] denied_tables" in str(caught.value)
    assert "to allow it" in str(caught.value)
    allowed = SqlPolicy(denied_tables=frozenset({"sessions"}))
    assert check_custom_sql("SELECT plugin FROM {config_plugins}", "mysql", allowed).tables == {
        "config_plugins"
    }


# -- every spelling of a denied column is refused, wherever it stands ----------------------------

_QUALIFIERS: dict[Dialect, list[str]] = {
    "mysql": ["u", "U", "{user}", "mdl_user", "MDL_USER", "`mdl_user`", "moodle.mdl_user", "`u`"],
    "postgres": ["u", "{user}", "mdl_user", "MDL_USER", '"mdl_user"', "public.mdl_user", '"u"'],
    "sqlite": ["u", "{user}", "mdl_user", '"mdl_user"', "main.mdl_user", '"u"'],
}
_PLACES = [
    "SELECT u.id, {ref} AS x FROM {{user}} u",
    "SELECT u.id FROM {{user}} u WHERE {ref} LIKE '$2y$%'",
    "SELECT u.id FROM {{user}} u ORDER BY {ref}",
    "SELECT c.id, (SELECT MAX({ref}) FROM {{user}} u) AS x FROM {{course}} c",
    "SELECT c.id FROM {{course}} c JOIN {{user}} u ON {ref} = c.fullname",
    "SELECT u.id FROM {{user}} u GROUP BY u.id HAVING MAX({ref}) > ''",
    "WITH t AS (SELECT {ref} AS x FROM {{user}} u) SELECT x FROM t",
    "SELECT u.id FROM {{user}} u WHERE EXISTS (SELECT 1 FROM {{course}} c WHERE c.id = {ref})",
]


@given(
    dialect=st.sampled_from(ALL),
    place=st.sampled_from(_PLACES),
    column=st.sampled_from(["password", "secret", "PASSWORD", "Password"]),
    pick=st.integers(min_value=0, max_value=100),
    unaliased=st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_no_spelling_of_a_denied_column_passes(
    dialect: Dialect, place: str, column: str, pick: int, unaliased: bool
) -> None:
    qualifiers = _QUALIFIERS[dialect]
    qualifier = qualifiers[pick % len(qualifiers)]
    sql = place.format(ref=f"{qualifier}.{column}")
    if unaliased:
        sql = sql.replace("{user} u", "{user}")
    with pytest.raises(SQLRejectedError) as caught:
        check_custom_sql(sql, dialect, POLICY)
    assert caught.value.rule in {"denied column", "unresolved qualifier"}
