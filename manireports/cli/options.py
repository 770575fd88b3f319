"""Options that several command groups share, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="table, records, csv, tsv, json, jsonl, xlsx, pdf or html. Default: from -o's "
        "extension, else table on a terminal and csv when piped.",
    ),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file (atomically).")
]
AsUserOption = Annotated[
    str | None,
    typer.Option("--as-user", help="Run as this Moodle user (id or username) would see it."),
]
CompanyOption = Annotated[
    int | None, typer.Option("--company", help="Only this IOMAD company (company id).")
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A report parameter as key=value; repeat as needed."),
]
PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="A named period in the site timezone: today, yesterday, last-7-days, last-30-days, "
        "last-90-days, this-week, last-week, this-month, last-month, this-quarter, this-year, "
        "YYYY-MM or YYYY-Qn.",
    ),
]
