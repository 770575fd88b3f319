"""Where a command runs, and the one table that turns its errors into exit codes.

Every command module imports this one, never another command module. The streams and the
terminal flags are fields of `Environment`, so a command can be run in-process with other
streams (the tests do); a real run takes the process's own.
"""

from __future__ import annotations

import copy
import errno
import gc
import io
import os
import signal
import sys
import traceback
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import typer

from manireports.config import Config, load_config
from manireports.errors import ManiReportsError, Terminated

if TYPE_CHECKING:
    from manireports.app import App


class _Closed(io.BytesIO):
    """Standard output the process was started without (Python's sys.stdout is None): writing
    to it fails as writing to a closed descriptor does, so the run says it cannot write."""

    def write(self, _data: Any) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


def _stdin() -> BinaryIO:
    # Started without stdin, a command reads nothing from it.
    return io.BytesIO() if sys.stdin is None else sys.stdin.buffer


def _stdout() -> TextIO:
    return io.TextIOWrapper(_Closed(), write_through=True) if sys.stdout is None else sys.stdout


def _stdout_binary() -> BinaryIO:
    return _Closed() if sys.stdout is None else sys.stdout.buffer


def _stderr() -> TextIO:
    # Started without stderr, messages go nowhere, as click's echo would have it.
    return io.StringIO() if sys.stderr is None else sys.stderr


def _stdout_is_terminal() -> bool:
    return sys.stdout is not None and sys.stdout.isatty()


def _stderr_is_terminal() -> bool:
    return sys.stderr is not None and sys.stderr.isatty()


def _colour() -> bool:
    return (
        _stderr_is_terminal() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    )


@dataclass
class Environment:
    """What a command needs to know about where it runs (httpie's idea)."""

    config_path: str | None = None
    quiet: bool = False
    verbose: bool = False
    debug: bool = False
    # Set while a cron job runs with `[jobs] log_file`: (file, job name).
    job_log: tuple[Path, str] | None = None
    stdin: BinaryIO = field(default_factory=_stdin)
    stdout: TextIO = field(default_factory=_stdout)
    # The same stream as stdout, for binary formats; flush stdout before writing to it.
    stdout_binary: BinaryIO = field(default_factory=_stdout_binary)
    stderr: TextIO = field(default_factory=_stderr)
    stdout_is_terminal: bool = field(default_factory=_stdout_is_terminal)
    stderr_is_terminal: bool = field(default_factory=_stderr_is_terminal)
    colour: bool = field(default_factory=_colour)

    def say(self, message: str) -> None:
        """Informational line on stderr, silenced by --quiet."""
        self.log(message)
        if not self.quiet:
            typer.echo(message, file=self.stderr)

    def warn(self, message: str) -> None:
        """A warning about the data written (bad bytes, missing glyphs), silenced by --quiet."""
        self.say(f"Warning: {message}")

    def detail(self, message: str) -> None:
        self.log(message)
        if self.verbose and not self.quiet:
            typer.echo(message, file=self.stderr)

    def log(self, message: str) -> None:
        """Append a line to the job log: every message of a job, -v or not, so cron can stay
        silent while the log says what each run did. Opened per line for logrotate's
        copytruncate; a log that cannot be written is said once on stderr, not fatal."""
        if self.job_log is None:
            return
        path, job = self.job_log
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")
        try:
            with path.open("a", encoding="utf-8") as out:
                out.write(f"{stamp} {job}[{os.getpid()}]: {message}\n")
        except OSError as exc:
            self.job_log = None
            typer.echo(f"Cannot write the job log {path}: {exc.strerror}.", file=self.stderr)

    def config(self) -> Config:
        resume_collection()
        return load_config(self.config_path)

    def app(self) -> App:
        from manireports.app import App

        notified: set[str] = set()

        def notice(message: str) -> None:
            if message not in notified:
                notified.add(message)
                self.say(message)

        return App(self.config(), notice=notice)


def env_of(ctx: typer.Context) -> Environment:
    obj = ctx.find_root().obj
    assert isinstance(obj, Environment)
    return obj


_running: ContextVar[Environment | None] = ContextVar("manireports_environment", default=None)


def current_env() -> Environment:
    """The running command's environment, for helpers called without its context (the export
    writers); outside a command, the process's own."""
    return _running.get() or Environment()


# --------------------------------------------------------------------------------------------
# Garbage collection during start-up.

_COLLECTION_PAUSED: list[bool] = []


def pause_collection() -> None:
    """No garbage collection while the command loads (installed by the process's own run).

    Loading the command line, SQLAlchemy and the library builds some 70,000 objects that live as
    long as the process; meanwhile the collector walks them at each of its hundred-odd passes
    and finds nothing to free: 0.07 s of CPU of the hourly `time sync`, 0.13 s of a custom
    report's run. Collection resumes when the command first reads its configuration
    (`Environment.config`, which `app()` calls): what exists by then is frozen out of later
    passes (gc.freeze), and the rest of the run collects as usual. A command that never reads
    its configuration (--help) is over before collecting could matter.
    """
    if gc.isenabled():
        gc.disable()
        _COLLECTION_PAUSED.append(True)


def resume_collection() -> None:
    """Collect garbage again, after a pause_collection; otherwise nothing."""
    if _COLLECTION_PAUSED:
        _COLLECTION_PAUSED.clear()
        gc.freeze()
        gc.enable()


# --------------------------------------------------------------------------------------------
# Signals and the one error table.


_SIGNALLED: list[int] = []
"""Signals received; Typer turns the KeyboardInterrupt they raise into a silent return of 130."""


def _terminate(_signum: int, _frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C: transactions roll back, claims, locks and temporary files go."""
    _SIGNALLED.append(signal.SIGTERM)
    raise Terminated


def _interrupt(_signum: int, _frame: Any) -> None:
    _SIGNALLED.append(signal.SIGINT)
    raise KeyboardInterrupt


def handle_signals() -> None:
    """SIGTERM and Ctrl-C stop a command by unwinding it; installed by the process's own run."""
    signal.signal(signal.SIGTERM, _terminate)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)


_GLOBAL_FLAGS = frozenset({"-v", "--verbose", "-q", "--quiet", "--debug"})


def _globals_first(args: list[str]) -> list[str]:
    """`manireports run-report x -v` means `manireports -v run-report x`: the flags that take
    no value are accepted anywhere before a `--`, as operators type them."""
    end = args.index("--") if "--" in args else len(args)
    flags = [arg for arg in args[:end] if arg in _GLOBAL_FLAGS]
    rest = [arg for arg in args[:end] if arg not in _GLOBAL_FLAGS]
    return flags + rest + args[end:]


def _only_the_command(app: typer.Typer, args: list[str]) -> typer.Typer:
    """The app with just the command or group that `args` names: Typer reads the signature of
    every command it is given on each run, a third of the start-up of a one-line command. The
    root help, no command and an unknown name get every command, so both list them all."""
    names = iter(args)
    name = None
    for arg in names:
        if arg in ("-c", "--config"):
            next(names, None)
        elif arg == "--" or not arg.startswith("-"):
            name = None if arg == "--" else arg
            break
    groups = [group for group in app.registered_groups if group.name == name]
    commands = [command for command in app.registered_commands if command.name == name]
    if not groups and not commands:
        return app
    only = copy.copy(app)
    only.registered_groups = groups
    only.registered_commands = commands
    return only


def run(app: typer.Typer, args: list[str], env: Environment) -> int:
    """Run the command line in `env` and return its exit code; every exit code comes from here
    (the table in the README)."""
    running = _running.set(env)
    try:
        return _exit_code(app, _globals_first(args), env)
    finally:
        _running.reset(running)


def _exit_code(app: typer.Typer, argv: list[str], env: Environment) -> int:
    debug = "--debug" in argv
    _SIGNALLED.clear()
    try:
        code = _only_the_command(app, argv)(
            args=argv, prog_name="manireports", standalone_mode=False, obj=env
        )
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("Interrupted.", file=env.stderr)
        return 130
    except typer.TyperException as exc:
        # Usage errors of the parser (unknown option, missing argument): exit 2 like click.
        exc.show(file=env.stderr)  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    except ManiReportsError as exc:
        if debug:
            traceback.print_exc(file=env.stderr)
        typer.echo(f"Error: {exc}", file=env.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as the Python docs advise.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, env.stdout.fileno())
        return 1
    except OSError as exc:
        # Output that cannot be written (a full disk, a device that refuses it): one sentence.
        if debug:
            traceback.print_exc(file=env.stderr)
        where = f" ({exc.filename})" if exc.filename else ""
        typer.echo(
            f"Error: cannot write the output{where}: {exc.strerror or exc}.", file=env.stderr
        )
        return 1
    except Terminated:
        typer.echo("Stopped by SIGTERM.", file=env.stderr)
        return 143
    except KeyboardInterrupt:
        typer.echo("Interrupted.", file=env.stderr)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc(file=env.stderr)
        typer.echo(
            f"Error: unexpected {exc.__class__.__name__}: {exc}. Run again with --debug for "
            "the traceback.",
            file=env.stderr,
        )
        return 1
    if code == 130 and _SIGNALLED:
        stopped_by_term = _SIGNALLED[0] == signal.SIGTERM
        typer.echo("Stopped by SIGTERM." if stopped_by_term else "Interrupted.", file=env.stderr)
        return 143 if stopped_by_term else 130
    return code if isinstance(code, int) else 0
