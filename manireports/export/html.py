"""HTML: one self-contained page to open in a browser or attach to an email.

Everything is inline (CSS, no scripts, no fonts or images to fetch), so the file reads the same
offline, in a mail client that blocks remote content, or years later from an archive. Jinja2
autoescaping keeps names like `<script>` or `O'Brien & Sons` as text, and the template is rendered
with generate() so rows stream to the file instead of being built into one string.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import jinja2

from manireports.export.model import ExportOptions, ReportTable
from manireports.export.values import (
    BadText,
    RowCounter,
    SiteClock,
    batches,
    converters,
    row_converter,
)

TEMPLATE = "report.html.j2"
_FLUSH_BYTES = 1 << 16

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("manireports.export", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def _rows(table: ReportTable, counter: RowCounter, bad: BadText) -> Iterator[Sequence[Any]]:
    apply = row_converter(converters(table.columns, "human", SiteClock(table.timezone)))
    for chunk in batches(table.rows, len(table.columns)):
        chunk = bad.rows(chunk)
        yield from (chunk if apply is None else map(apply, chunk))
        counter.add(len(chunk))


def write_html(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """Render the page, writing it out in blocks of about 64 KiB as the rows arrive."""
    counter = RowCounter(options.progress)
    bad = BadText(table.columns)
    numeric = [column.kind in ("int", "float") for column in table.columns]
    generated = table.generated_at.astimezone(table.timezone).replace(microsecond=0)
    pieces = _environment.get_template(TEMPLATE).generate(
        lang="en",
        title=table.title,
        parameters=list(table.parameters.items()),
        generated=generated.strftime("%Y-%m-%d %H:%M:%S"),
        generated_iso=generated.isoformat(),
        timezone=table.timezone.key,
        columns=[
            {"label": column.label, "numeric": is_numeric}
            for column, is_numeric in zip(table.columns, numeric, strict=True)
        ],
        numeric=numeric,
        rows=_rows(table, counter, bad),
        counter=counter,
    )
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= _FLUSH_BYTES:
            stream.write("".join(buffer).encode("utf-8"))
            stream.flush()
            buffer.clear()
            size = 0
    stream.write("".join(buffer).encode("utf-8"))
    bad.report(options.warn)
    return counter.finish()
