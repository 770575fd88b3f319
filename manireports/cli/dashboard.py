"""dashboard [--role|--as-user|--company|--id] and dashboard create|list|show; the terminal
rendering (rich panels and sparklines) lives here.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from manireports.cli.environment import env_of
from manireports.cli.options import (
    AsUserOption,
    CompanyOption,
    FormatOption,
    OutputOption,
    PeriodOption,
)
from manireports.cli.output import export_small, write_text
from manireports.cli.periods import period_dashboard_as_of
from manireports.errors import InputError

dashboard_app = typer.Typer(
    help="Dashboards per role, and custom dashboards from a file.", invoke_without_command=True
)
DASHBOARD_FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf", ".txt": "terminal"}


@dashboard_app.callback()
def dashboard_command(
    ctx: typer.Context,
    role: Annotated[
        str | None,
        typer.Option(help="admin, manager, teacher or student; with --as-user, their role."),
    ] = None,
    as_user: AsUserOption = None,
    company: CompanyOption = None,
    dashboard_id: Annotated[
        int | None, typer.Option("--id", help="A custom dashboard (see `dashboard list`).")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="html, pdf or terminal. Default: from -o, else terminal."
        ),
    ] = None,
    output: OutputOption = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help='As of this moment, "YYYY-MM-DD HH:MM[:SS]" (site time).'),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Recompute instead of reading cached entries.")
    ] = False,
    period: PeriodOption = None,
) -> None:
    """Show the dashboard of a role: KPIs, trends, completion by course, courses, learners at risk.

    Example: manireports dashboard --as-user sian.taylor -o dashboard.html
    """
    if ctx.invoked_subcommand is not None:
        return
    from manireports.dashboard import DashboardRequest, build_dashboard
    from manireports.export.atomic import atomic_output

    if fmt is None:
        suffix = output.suffix.lower() if output else ""
        if output and suffix not in DASHBOARD_FORMATS:
            raise InputError(
                f"Cannot tell the format of '{output}'; use .html, .pdf or .txt, or give --format."
            )
        fmt = DASHBOARD_FORMATS[suffix] if output else "terminal"
    if fmt not in ("html", "pdf", "terminal"):
        raise InputError(f"--format must be html, pdf or terminal, not {fmt!r}.")
    if fmt == "pdf" and output is None and env_of(ctx).stdout_is_terminal:
        raise InputError("A PDF dashboard is binary and needs -o FILE.")
    application = env_of(ctx).app()
    if period is not None:
        as_of = period_dashboard_as_of(application, period, as_of)
    request = DashboardRequest(role, as_user, company, dashboard_id, as_of, not no_cache)
    if fmt in ("html", "pdf"):
        from manireports.dashboard.charts import load_in_background

        load_in_background(fmt)
    dashboard, _hit = build_dashboard(application, request)
    if fmt == "html":
        from manireports.dashboard.html import render_html

        data = render_html(dashboard).encode("utf-8")
    elif fmt == "pdf":
        from manireports.dashboard.pdf import render_pdf

        data = render_pdf(dashboard)
    else:
        buffer = io.StringIO()
        _print_dashboard(dashboard, buffer, colour=output is None and env_of(ctx).colour)
        data = buffer.getvalue().encode("utf-8")
    if output is None:
        env_of(ctx).stdout_binary.write(data)
        env_of(ctx).stdout.flush()
        return
    with atomic_output(output) as stream:
        stream.write(data)
    env_of(ctx).detail(f"Wrote the dashboard to {output}.")


SPARK_BLOCKS = "▁▂▃▄▅▆▇█"


def _sparkline(values: list[float]) -> str:
    top = max(values, default=0) or 1
    return "".join(SPARK_BLOCKS[min(7, int(v / top * 7.999))] for v in values)


def _print_dashboard(dashboard: Any, stream: io.StringIO, *, colour: bool) -> None:
    """The dashboard as terminal panels. Names, titles and values are data, never markup, and
    their control characters are shown escaped, exactly as in the `table` format."""
    from rich.columns import Columns
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from manireports.dashboard.text import cell_text, delta_text, figure_text, tone
    from manireports.export.values import visible_text

    def text(value: Any, style: str = "") -> Text:
        return Text(visible_text(str(value)), style=style)

    shade = {"good": "green", "bad": "red", "flat": "dim"}
    console = Console(
        file=stream, no_color=not colour, width=100, highlight=False, markup=False, emoji=False
    )
    company = "" if dashboard.company is None else f", company {dashboard.company}"
    console.print(Panel(
        text(f"For {dashboard.viewer} ({dashboard.role}){company}. Generated "
             f"{dashboard.generated} ({dashboard.timezone})."),
        title=text(dashboard.title), border_style="blue",
    ))  # fmt: skip
    cards = [
        Panel(
            Text.assemble(
                text(figure_text(w.value, w.unit), "bold"), "\n",
                text(delta_text(w), shade[tone(w)]),
            ),
            title=text(w.title), width=32,
        )
        for w in dashboard.widgets
        if w.kind == "kpi"
    ]  # fmt: skip
    console.print(Columns(cards))
    for widget in dashboard.widgets:
        if widget.kind == "chart":
            lines = []
            if widget.chart == "line":
                lines.append(f"{widget.labels[0]} … {widget.labels[-1]}" if widget.labels else "")
                for series in widget.series:
                    last = figure_text(series.values[-1], "number") if series.values else "–"
                    lines.append(f"{series.name:<14} {_sparkline(series.values)}  last {last}")
            else:
                values = widget.series[0].values if widget.series else []
                top = max(values, default=0) or 1
                for label, value in zip(widget.labels, values, strict=True):
                    bar = "█" * round(value / top * 30)
                    lines.append(f"{label[:20]:<20} {bar} {figure_text(value, 'number')}")
            body = "\n".join(lines) or "No data"
            console.print(Panel(text(body), title=text(widget.title)))
        elif widget.kind == "table":
            grid = Table(title=text(widget.title))
            for name, numeric in zip(widget.columns, widget.numeric, strict=True):
                grid.add_column(text(name), justify="right" if numeric else "left")
            for row in widget.rows:
                grid.add_row(*(text(cell_text(value)) for value in row))
            console.print(grid)
            if widget.note:
                console.print(text(widget.note, "dim"))


DashboardFileOption = Annotated[
    Path, typer.Option("--file", help="A dashboard definition (.toml or .json).")
]


@dashboard_app.command("create")
def dashboard_create(ctx: typer.Context, file: DashboardFileOption) -> None:
    """Store a custom dashboard from a TOML or JSON file, after checking it; prints its id.

    Example: manireports dashboard create --file examples/dashboards/completion.toml
    """
    from manireports.dashboard.custom import check_definition, load_definition, save_dashboard
    from manireports.state import record_audit

    env = env_of(ctx)
    application = env.app()
    definition = check_definition(application.state, load_definition(file), file)
    dashboard_id = save_dashboard(application.state, definition)
    record_audit(application.state, userid=0, action="dashboard_create", objecttype="dashboard",
                 objectid=dashboard_id, details={"title": definition["title"]})  # fmt: skip
    env.say(f"Created the dashboard {definition['title']!r} with id {dashboard_id}.")
    write_text(f"{dashboard_id}\n")


@dashboard_app.command("list")
def dashboard_list(
    ctx: typer.Context, fmt: FormatOption = None, output: OutputOption = None
) -> None:
    """List the custom dashboards.

    Example: manireports dashboard list
    """
    from manireports.dashboard.custom import list_dashboards
    from manireports.export import Column

    application = env_of(ctx).app()
    columns = [Column("id", "int"), Column("title"), Column("company", "int"),
               Column("widgets", "int"), Column("modified", "timestamp")]  # fmt: skip
    export_small(
        "Dashboards", columns, list_dashboards(application.state), fmt, output=output, ctx=ctx
    )


@dashboard_app.command("show")
def dashboard_show(
    ctx: typer.Context,
    dashboard_id: Annotated[int, typer.Argument(help="The custom dashboard's id.")],
) -> None:
    """Print a custom dashboard's definition as JSON.

    Example: manireports dashboard show 2
    """
    from dataclasses import asdict

    from manireports.dashboard.custom import require_dashboard

    found = require_dashboard(env_of(ctx).app().state, dashboard_id)
    write_text(json.dumps(asdict(found), indent=2, ensure_ascii=False) + "\n")
