"""Output helpers shared by the commands, and the terminal writers (`table`, `records`)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import typer

from manireports.cli.environment import Environment, current_env, env_of
from manireports.export import ExportOptions, ReportTable, register_writer, resolve_format

_TIME_KEYS = frozenset({
    "timecreated", "timemodified", "timecompleted", "timefinished", "timereceived", "timesent",
    "timestarted", "at_time", "claimed_until", "last_run", "next_run", "lastaccess",
    "lastgenerated", "lastupdated", "occurrence", "retry_at", "sessionstart",
})  # fmt: skip
"""Keys of manireports' own records that hold Unix times (durations like totaltime do not)."""


def site_dates(data: Any, zone: Any) -> Any:
    """The JSON document with its Unix times as site-local 'YYYY-MM-DD HH:MM:SS', as every
    other output shows them; 0 and null stay what they are (never)."""
    if isinstance(data, list):
        return [site_dates(item, zone) for item in data]
    if not isinstance(data, dict):
        return data
    shown: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TIME_KEYS and type(value) is int and value > 0:
            shown[key] = datetime.fromtimestamp(value, zone).strftime("%Y-%m-%d %H:%M:%S")
        else:
            shown[key] = site_dates(value, zone)
    return shown


def write_text(text: str) -> None:
    stdout = current_env().stdout
    stdout.write(text)
    stdout.flush()


def export_small(
    title: str,
    columns: list[Any],
    rows: Iterable[tuple[Any, ...]],
    fmt: str | None,
    zone: Any = None,
    *,
    output: Path | None = None,
    ctx: typer.Context,
) -> None:
    """Listings go through the same export pipeline as reports, to stdout or to -o FILE."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from manireports.export import export

    env = env_of(ctx)
    target = str(output) if output else None
    fmt_name = resolve_format(fmt, target, env.stdout_is_terminal)
    table = ReportTable(
        title=title,
        columns=columns,
        rows=rows,
        parameters={},
        generated_at=datetime.now(UTC),
        timezone=zone or ZoneInfo("UTC"),
    )
    options = ExportOptions(
        formula_guard=output is not None and env.config().settings.export.csv_formula_guard,
        warn=env.warn,
    )
    env.stdout.flush()
    result = export(table, fmt_name, output if output else env.stdout_binary, options)
    if output:
        env.detail(f"Wrote {result.rows} rows to {output}.")


def _write_rich_table(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """The `table` format: rich tables on the terminal, in pages so memory stays bounded."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from manireports.export.values import (
        BadText,
        SiteClock,
        converters,
        row_converter,
        visible_text,
    )

    text = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
    bad = BadText(table.columns)
    # Values are data, never markup: `[old] Induction` is shown as written, and an ESC in a
    # name is shown as \x1b (rich.Text is not parsed for markup or emoji).
    console = Console(
        file=text,
        no_color=not current_env().colour,
        soft_wrap=False,
        markup=False,
        emoji=False,
        highlight=False,
    )
    convert = row_converter(converters(table.columns, "human", SiteClock(table.timezone)))
    count = 0
    page: list[Any] = []

    def cell(value: Any) -> Text:
        return Text("" if value is None else visible_text(str(value)))

    def flush(title: str | None) -> None:
        grid = Table(title=cell(title) if title is not None else None)
        for column in table.columns:
            numeric = column.kind in ("int", "float")
            grid.add_column(cell(column.label), justify="right" if numeric else "left")
        for row in bad.rows(page):
            shown = convert(row) if convert else row
            grid.add_row(*map(cell, shown))
        console.print(grid)
        page.clear()

    for row in table.rows:
        page.append(row)
        count += 1
        if len(page) >= TABLE_PAGE_ROWS:
            flush(table.title if count == TABLE_PAGE_ROWS else None)
    if page or count == 0:
        flush(table.title if count <= TABLE_PAGE_ROWS else None)
    text.detach()
    bad.report(options.warn)
    if options.progress:
        options.progress(count)
    return count


TABLE_PAGE_ROWS = 500
register_writer("table", _write_rich_table)


class _Progress:
    """Row counts on stderr while a long report runs, only when stderr is a terminal."""

    def __init__(self, stderr: TextIO) -> None:
        self.stderr = stderr
        self.shown = False

    def __call__(self, rows: int) -> None:
        self.shown = True
        self.stderr.write(f"\r{rows:,} rows")
        self.stderr.flush()

    def finish(self) -> None:
        if self.shown:
            self.stderr.write("\n")


def progress_printer(env: Environment) -> _Progress | None:
    if env.quiet or not env.stderr_is_terminal:
        return None
    return _Progress(env.stderr)


def _write_records(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """The `records` format: each row as a block of `column  value` lines, like psql's \\x."""
    from manireports.export.values import (
        BadText,
        SiteClock,
        converters,
        row_converter,
        visible_text,
    )

    text = io.TextIOWrapper(stream, encoding="utf-8", write_through=True)
    convert = row_converter(converters(table.columns, "human", SiteClock(table.timezone)))
    width = max((len(column.name) for column in table.columns), default=0)
    count = 0
    bad = BadText(table.columns)
    for raw in table.rows:
        count += 1
        row = bad.rows([raw])[0]
        shown = convert(row) if convert else row
        text.write(f"-[ {visible_text(table.title)}: {count} ]-\n")
        for column, value in zip(table.columns, shown, strict=True):
            shown_value = "" if value is None else visible_text(str(value))
            text.write(f"{visible_text(column.name):<{width}}  {shown_value}\n")
        text.write("\n")
    if count == 0:
        text.write(f"{visible_text(table.title)}: no rows.\n")
    text.detach()
    bad.report(options.warn)
    if options.progress:
        options.progress(count)
    return count


register_writer("records", _write_records)
