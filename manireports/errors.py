"""Typed errors of the library.

The command-line layer turns each class into its exit code (the table in the README) and prints
the message; the library itself never prints. Messages are written for the operator: one or two
plain sentences that name the thing and say what to do.
"""

from __future__ import annotations


class ManiReportsError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 1


class RunError(ManiReportsError):
    """A failure while running: a server down after retries, a job that could not finish."""

    exit_code = 1


class InputError(ManiReportsError):
    """Invalid input from the operator: unknown report, bad parameter, rejected SQL."""

    exit_code = 2


class ConfigError(InputError):
    """The configuration is unusable; the message names the key and the file."""


class PermissionDeniedError(ManiReportsError):
    """The acting user may not see what was asked for."""

    exit_code = 3


class DatabaseError(ManiReportsError):
    """A database cannot be reached, or it is not a usable Moodle or state database."""

    exit_code = 4


class SchemaBehindError(DatabaseError):
    """The state database needs `manireports db upgrade` before this command can run."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (systemd stop, cron timeout) arrived: unwind exactly as an interrupt does.

    Deriving from KeyboardInterrupt means every `except KeyboardInterrupt` and every `finally` that
    rolls back a transaction, releases a claim or a lock, or removes a temporary file runs the same
    way for both signals; only the exit code differs (130 for SIGINT, 143 for SIGTERM).
    """
