"""The data every export is made of, and the contract a writer fulfils.

A report hands the exporter one `ReportTable` whose rows are raw database values, streamed: the
same table can become CSV on a pipe, an XLSX attachment or a PDF, so the rules for turning a Moodle
value into something a person or a program reads live in the writers, not in each report.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

ColumnKind = Literal["int", "float", "text", "bool", "timestamp", "date"]
"""How a column's raw values are read.

`timestamp` holds Unix seconds as Moodle stores them (0 or None means "never"); `date` holds
'YYYY-MM-DD' strings or date objects; `bool` holds 0/1/True/False; numbers may be Decimal.
"""


@dataclass(frozen=True)
class Column:
    """One column: `name` is the stable machine name, `title` what people see in XLSX/PDF/HTML."""

    name: str
    kind: ColumnKind = "text"
    title: str | None = None
    # The operator gave the title (a config-built report's `label`): then it heads the column in
    # CSV and TSV too. A built-in report's CSV keeps its machine names, which scripts rely on.
    labelled: bool = False

    @property
    def label(self) -> str:
        """The heading people read; CSV, TSV and JSON keep the machine name for scripts."""
        return self.title or self.name

    @property
    def heading(self) -> str:
        """The CSV/TSV header: the operator's label, else the stable machine name."""
        return self.label if self.labelled else self.name


@dataclass
class ReportTable:
    """A report's result on its way out: consumed once, row by row."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[tuple[Any, ...]]
    parameters: Mapping[str, str]
    generated_at: datetime
    timezone: zoneinfo.ZoneInfo

    def __post_init__(self) -> None:
        # A naive generation time would silently be read as the machine's zone, not the site's.
        if self.generated_at.tzinfo is None:
            raise ValueError("ReportTable.generated_at must be timezone-aware")


@dataclass(frozen=True)
class ExportOptions:
    """Choices that are the caller's, not the format's.

    `progress` is called with the running row count every `PROGRESS_EVERY` rows and once at the
    end, `warn` with a sentence about the data (bad bytes, glyphs no font has); the command-line
    layer decides whether anyone sees them. `formula_guard` makes CSV/TSV cells that a
    spreadsheet would run as formulas text; it is for files, not for pipes. `pdf_fonts` are
    font files the operator named, tried before the ones found on the machine.
    """

    bom: bool = False
    pdf_max_rows: int = 50_000
    progress: Callable[[int], None] | None = None
    sheet_name: str | None = None
    # Permission bits of a file created new; None leaves them to the umask.
    file_mode: int | None = None
    formula_guard: bool = False
    warn: Callable[[str], None] | None = None
    pdf_fonts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportResult:
    """What was written: the row count (for the run log) and the file, None for a stream."""

    rows: int
    path: Path | None


class Writer(Protocol):
    """Writes the whole table to a binary stream and returns the number of data rows."""

    def __call__(self, table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int: ...
