"""Measure how fast manireports starts: whole commands, wall clock, against `python -c pass`.

    python bench/startup.py [--repeat 7] [--target-scale 1.0] [--checkout PATH]
        [--sync-moodle-url URL --sync-state-url URL [--sync-rows 1000] [--mysql-driver auto]]

Each command runs in a fresh interpreter, N times; the table gives the best and the median
seconds, the best as a ratio to `python -c pass` measured in the same run, the target, and the
least CPU time (user + system) of the runs with its ratio, which a busy machine disturbs less.
The targets are seconds on a quiet machine (the load average is printed; on a busy or slower
machine scale them with --target-scale). A best time over its target prints
"REGRESSION: ..." and the script exits 1.

The commands run as an installed manireports does: with its modules' bytecode compiled (pip
compiles it on install). Compiling the sources again on every run (PYTHONDONTWRITEBYTECODE, or a
read-only checkout) costs a command with a database a tenth of a second or more, which is not
start-up but a missing cache; here the bytecode goes to a cache directory in the temporary
directory (PYTHONPYCACHEPREFIX), written by an untimed first run of each command, so the checkout
measured is never written to.

Commands measured on a small SQLite demo built in a temporary directory:
- `--help`, `--version`, `config show`: no database at all;
- `reports list`: the state database (custom reports) and Moodle's site identity;
- `run-report <custom>`: a custom report of `SELECT 1` end to end (validation, run record).

The hourly `time sync` is measured when --sync-moodle-url names a SCRATCH COPY of a Moodle
database: before each timed run the script appends --sync-rows rows to the copy's standard log
(the last rows again, an hour later but never later than now), as an hour of a busy site would.
Never point it at a real site. The state database (--sync-state-url) is brought up to date
untimed first, which on a large log is the minute of a first sync.

Then the top import-time offenders of each command (`python -X importtime`) are listed: the
imports made at the top level of the run, by cumulative time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.harness import python_argv  # noqa: E402

NO_DB_TARGET = 0.35
DB_TARGET = 0.5
CUSTOM_SQL = "SELECT 1 AS one\n"


@dataclass(frozen=True)
class Case:
    label: str
    argv: list[str]
    target: float | None
    env: Mapping[str, str]


@dataclass(frozen=True)
class Timing:
    case: Case
    best: float
    median: float
    cpu: float


def run_timed(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, from the child's own rusage) of one run.

    CPU time moves less than wall time when other processes share the machine."""
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, env=dict(env), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert child.stderr is not None
    errors = child.stderr.read()
    _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[2:])} failed: {errors.decode('utf-8', 'replace')}")
    return elapsed, usage.ru_utime + usage.ru_stime


def manireports(*args: str) -> list[str]:
    return [sys.executable, "-m", "manireports", *args]


CHECKOUT = REPO


def isolated_env(home: Path) -> dict[str, str]:
    """A user of its own: no configuration file, data (demo, state) under `home`, bytecode
    cached under `home` (see the module's docstring)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MANIREPORTS_") and key != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        PYTHONPATH=str(CHECKOUT),
        PYTHONPYCACHEPREFIX=str(home / "pycache"),
    )
    return env


def check(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
    result = subprocess.run(argv, env=dict(env), cwd=cwd, capture_output=True, check=False)
    if result.returncode != 0:
        error = result.stderr.decode("utf-8", "replace").strip()
        raise SystemExit(f"{' '.join(argv[2:])} failed ({result.returncode}): {error}")


def prepare_demo(home: Path, env: Mapping[str, str]) -> None:
    print("building the small SQLite demo ...", file=sys.stderr)
    check(manireports("demo", "init", "--size", "small"), env, home)
    sql = home / "one.sql"
    sql.write_text(CUSTOM_SQL, encoding="utf-8")
    check(manireports("reports", "create", "--name", "one", "--sql-file", str(sql)), env, home)


def sync_env(args: argparse.Namespace, home: Path) -> dict[str, str]:
    env = isolated_env(home)
    env.update(
        MANIREPORTS_MOODLE_URL=args.sync_moodle_url,
        MANIREPORTS_STATE_URL=args.sync_state_url,
        MANIREPORTS_MOODLE_MYSQL_DRIVER=args.mysql_driver,
    )
    return env


def append_log_rows(moodle_url: str, rows: int) -> None:
    """Copy the last `rows` log rows to new ids, an hour after the log's last event or, when
    that is later, ending now.

    Never in the future: the sync caps its clock at now, so a log running ahead of it (each run
    an hour later than the last, a few seconds apart) kept every session since in reach, and
    the sync of 1,000 rows loaded 11,000 sessions after 40 runs, more with each run."""
    import sqlalchemy as sa

    engine = sa.create_engine(moodle_url)
    try:
        table = sa.Table("mdl_logstore_standard_log", sa.MetaData(), autoload_with=engine)
        columns = [column for column in table.columns if column.name != "id"]
        with engine.begin() as connection:
            last = connection.execute(sa.select(sa.func.max(table.c.id))).scalar_one()
            newest = connection.execute(sa.select(sa.func.max(table.c.timecreated))).scalar_one()
            oldest = connection.execute(
                sa.select(sa.func.min(table.c.timecreated)).where(table.c.id > last - rows)
            ).scalar_one()
            shift = max(0, min(int(newest) - int(oldest) + 3600, int(time.time()) - int(newest)))
            copied = [
                (column + shift if column.name == "timecreated" else column).label(column.name)
                for column in columns
            ]
            source = sa.select(*copied).where(table.c.id > last - rows).order_by(table.c.id)
            connection.execute(table.insert().from_select([c.name for c in columns], source))
    finally:
        engine.dispose()


def time_case(case: Case, repeat: int, cwd: Path, before: Sequence[str] | None = None) -> Timing:
    if before is None:
        run_timed(case.argv, case.env, cwd)  # untimed: writes the bytecode cache
    runs = []
    for _ in range(repeat):
        if before is not None:
            append_log_rows(before[0], int(before[1]))
        runs.append(run_timed(case.argv, case.env, cwd))
    walls = [wall for wall, _cpu in runs]
    return Timing(case, min(walls), statistics.median(walls), min(cpu for _wall, cpu in runs))


def import_offenders(case: Case, cwd: Path, top: int) -> list[tuple[float, str]]:
    """The imports made at the top level of the run (depth 0), by cumulative milliseconds."""
    argv = [case.argv[0], "-X", "importtime", *case.argv[1:]]
    result = subprocess.run(
        argv, env=dict(case.env), cwd=cwd, capture_output=True, check=False, text=True
    )
    found = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _self, cumulative, name = line.split(":", 1)[1].split("|")
        if not name.startswith("  "):
            found.append((int(cumulative) / 1000, name.strip()))
    return sorted(found, reverse=True)[:top]


def load_average() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--target-scale", type=float, default=1.0)
    parser.add_argument("--top", type=int, default=8, help="import offenders per command")
    parser.add_argument("--sync-moodle-url", help="a scratch copy of a Moodle database")
    parser.add_argument("--sync-state-url", help="the state database for the sync")
    parser.add_argument("--sync-rows", type=int, default=1000)
    parser.add_argument(
        "--checkout", type=Path, default=REPO, help="measure this checkout (before/after)"
    )
    parser.add_argument(
        "--mysql-driver", default="auto", choices=["auto", "pymysql", "mysqlclient"]
    )
    args = parser.parse_args()
    global CHECKOUT
    CHECKOUT = args.checkout.resolve()
    if bool(args.sync_moodle_url) != bool(args.sync_state_url):
        parser.error("--sync-moodle-url and --sync-state-url go together")

    with tempfile.TemporaryDirectory(prefix="manireports-startup-") as directory:
        home = Path(directory)
        env = isolated_env(home)
        prepare_demo(home, env)
        cases = [
            Case("python -c pass (floor)", python_argv("pass"), None, env),
            Case("manireports --help", manireports("--help"), NO_DB_TARGET, env),
            Case("manireports --version", manireports("--version"), NO_DB_TARGET, env),
            Case("manireports config show", manireports("config", "show"), NO_DB_TARGET, env),
            Case("manireports reports list (state + site check)",
                 manireports("reports", "list", "-f", "csv"), DB_TARGET, env),
            Case("manireports run-report <custom SELECT 1>",
                 manireports("run-report", "one", "-f", "csv"), DB_TARGET, env),
        ]  # fmt: skip
        timings = [time_case(case, args.repeat, home) for case in cases]
        if args.sync_moodle_url:
            sync = Case(
                f"manireports time sync (+{args.sync_rows} log rows)",
                manireports("time", "sync"),
                DB_TARGET,
                sync_env(args, home),
            )
            print("bringing the state up to date (untimed) ...", file=sys.stderr)
            check(manireports("db", "upgrade"), sync.env, home)
            check(sync.argv, sync.env, home)
            before = [args.sync_moodle_url, str(args.sync_rows)]
            timings.append(time_case(sync, args.repeat, home, before))
            cases.append(sync)

        floor, floor_cpu = timings[0].best, timings[0].cpu
        print(f"\n{load_average()}; best and median of {args.repeat} runs")
        print(
            f"{'command':<52} {'best s':>7} {'median s':>9} {'ratio':>7} {'target s':>9} "
            f"{'CPU s':>6} {'CPU ratio':>9}"
        )
        failures = []
        for timing in timings:
            case = timing.case
            target = None if case.target is None else case.target * args.target_scale
            shown = "" if target is None else f"{target:.2f}"
            print(
                f"{case.label:<52} {timing.best:>7.3f} {timing.median:>9.3f} "
                f"{timing.best / floor:>6.1f}x {shown:>9} {timing.cpu:>6.3f} "
                f"{timing.cpu / floor_cpu:>8.1f}x"
            )
            if target is not None and timing.best > target:
                failures.append(f"{case.label}: {timing.best:.3f} s > {target:.2f} s")

        print("\nTop import-time offenders (ms, cumulative, imported at the top level of the run)")
        for case in cases[1:]:
            offenders = import_offenders(case, home, args.top)
            listed = ", ".join(f"{name} {ms:.0f}" for ms, name in offenders)
            print(f"- {case.label}: {listed}")
        for failure in failures:
            print(f"REGRESSION: {failure}", file=sys.stderr)
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
