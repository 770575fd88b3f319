"""The least a Python command can take for a query: its rows read through the driver, unbuffered,
and written with a plain csv.writer loop. A floor for bench/scale.py, measured in the same run.

    python bench/python_floor.py URL DRIVER OUTPUT [--sqlalchemy] < query.sql

DRIVER is pymysql or mysqlclient for MariaDB/MySQL (URL mysql://user@host/db), psycopg for
PostgreSQL (postgresql://...), sqlite3 for SQLite (URL: the database file's path).
`--sqlalchemy` imports SQLAlchemy first, which every manireports command that reads a database
pays (its connection layer is built on it) before its first query is sent.
"""

from __future__ import annotations

import csv
import sys
from typing import Any
from urllib.parse import urlsplit


def connect(url: str, driver: str) -> tuple[Any, Any]:
    """A connection and a cursor that streams the result rather than holding it."""
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    if driver in ("pymysql", "mysqlclient"):
        if driver == "pymysql":
            import pymysql as module
            from pymysql.cursors import SSCursor
        else:
            import MySQLdb as module
            from MySQLdb.cursors import SSCursor
        connection = module.connect(
            host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
            password=parts.password or "", database=database, charset="utf8mb4",
        )  # fmt: skip
        return connection, connection.cursor(SSCursor)
    if driver == "psycopg":
        import psycopg

        connection = psycopg.connect(
            host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres",
            dbname=database,
        )  # fmt: skip
        return connection, connection.cursor(name="floor")
    import sqlite3

    connection = sqlite3.connect(url)
    return connection, connection.cursor()


def main() -> None:
    url, driver, output = sys.argv[1:4]
    if "--sqlalchemy" in sys.argv[4:]:
        import sqlalchemy  # noqa: F401
    sql = sys.stdin.read()
    connection, cursor = connect(url, driver)
    cursor.execute(sql)
    with open(output, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([column[0] for column in cursor.description])
        while rows := cursor.fetchmany(1000):
            writer.writerows(rows)
    connection.close()


if __name__ == "__main__":
    main()
