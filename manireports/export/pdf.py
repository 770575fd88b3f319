"""PDF for reading and printing: A4, a header row on every page, any script's names.

PDF layout needs every row before the first page is final (the page count goes in every footer),
so this writer holds the rows; `ExportOptions.pdf_max_rows` bounds that, and a larger report is
refused before a byte is written: PDF is for reading, CSV and XLSX are for data.

What tells rows apart is never cut: key columns (ids, usernames, emails, dates, times, numbers)
are as wide as their widest value, and long text wraps inside its cell. A column empty in every
row is left out (the title block says which). A table wider than A4 landscape continues its
remaining columns on the following pages, with the identifying columns (ids, usernames, emails,
names) repeated so each row can be found again.

Speed: fpdf2's cell() is about ten times slower than its text(), mostly in the per-character
font and markdown handling that table cells do not need. Cells the main font can draw are
measured with the font's own advance widths and drawn line by line with text(); only cells with
characters the main font lacks (CJK, Arabic, Indic, ...) go through multi_cell(), which applies
fpdf2's fallback fonts and uharfbuzz text shaping (joined Arabic, Indic conjuncts) and
bidirectional ordering. Characters no font has are named in one warning of our own; fpdf2's own
messages are kept off the operator's screen.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Literal

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from manireports.errors import InputError
from manireports.export.fonts import FontSet, find_fonts, missing_glyphs_message
from manireports.export.model import Column, ExportOptions, ReportTable
from manireports.export.values import (
    CHUNK_ROWS,
    BadText,
    RowCounter,
    SiteClock,
    batches,
    converters,
    row_converter,
)

A4_SHORT, A4_LONG = 210.0, 297.0
MARGIN = 10.0
BODY_SIZE = 8.0
TITLE_SIZE = 14.0
ROW_HEIGHT = 5.0
LINE_HEIGHT = 3.6
PADDING = 1.2
# Column widths are a value's width plus padding; taking the padding off again may come out a
# hair short in floating point, which must not cut the widest value of a column.
_SLACK = 1e-6
MAX_COLUMN = 70.0
"""No text column is wider than this; longer text wraps."""
MIN_TEXT_COLUMN = 28.0
"""Text columns are narrowed down to this (and wrap more) before the table is split."""
_KEY_NAME = re.compile(r"(^|_)(id|username|email|user|date|time)|(id|date|time|created|modified)$")
_IDENTITY_NAME = re.compile(r"(^|_)(id|userid|username|email|fullname|name)$")

SAMPLE_ROWS = CHUNK_ROWS
ELLIPSIS = "…"
HEADER_FILL = (220, 230, 241)
ZEBRA_FILL = (244, 246, 248)
MAIN = "ReportSans"
_POINT = 25.4 / 72  # millimetres per point


class _Face:
    """Advance widths of one embedded face at one size, read from fpdf2's own font tables."""

    def __init__(self, pdf: FPDF, family: str, style: str, size: float) -> None:
        font = pdf.fonts[family.lower() + style]
        assert isinstance(font, TTFFont)  # add_font() with a file always makes one
        self.family = family
        self.style = style
        self.cmap: dict[int, str] = font.cmap
        self._scale = size * _POINT / 1000
        widths = font.cw
        self._width = widths.__getitem__
        self._ascii = [widths[code] * self._scale for code in range(128)]

    def covers(self, text: str) -> bool:
        return text.isascii() or all(map(self.cmap.__contains__, map(ord, text)))

    def width(self, text: str) -> float:
        if text.isascii():
            return sum(map(self._ascii.__getitem__, text.encode("ascii")))
        return sum(map(self._width, map(ord, text))) * self._scale

    def wrap(self, text: str, room: float) -> list[str]:
        """The text in lines that fit `room`, broken at spaces, inside a word only when the word
        alone is wider than the room."""
        if self.width(text) <= room + _SLACK and "\n" not in text:
            return [text]
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line = ""
            for word in paragraph.split(" "):
                candidate = f"{line} {word}" if line else word
                if self.width(candidate) <= room + _SLACK:
                    line = candidate
                    continue
                if line:
                    lines.append(line)
                line = ""
                for char in word:
                    if line and self.width(line + char) > room + _SLACK:
                        lines.append(line)
                        line = ""
                    line += char
            lines.append(line)
        return lines


@dataclass(frozen=True)
class _Layout:
    """Where each shown column goes: `pages` are groups of column indexes, one group per run of
    pages (the identifying columns repeated in every group after the first)."""

    labels: list[str]
    widths: list[float]
    aligns: list[Literal["L", "R"]]
    landscape: bool
    pages: list[list[int]]


class _ReportPDF(FPDF):
    def __init__(self, table: ReportTable, fonts: FontSet, row_count: int, note: str) -> None:
        super().__init__(unit="mm", format="A4")
        self._table = table
        self._row_count = row_count
        self._note = note
        self._layout: _Layout | None = None
        self._group: list[int] = []
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(False)
        self.c_margin = PADDING
        self.add_font(MAIN, "", str(fonts.regular.path), collection_font_number=fonts.regular.index)
        self.add_font(MAIN, "B", str(fonts.bold.path), collection_font_number=fonts.bold.index)
        self.body = _Face(self, MAIN, "", BODY_SIZE)
        self.bold = _Face(self, MAIN, "B", BODY_SIZE)
        self._fonts = fonts
        self.set_title(table.title)
        self.set_creator("manireports")
        self.set_creation_date(table.generated_at)

    def use_fallbacks(self, texts: set[str]) -> set[int]:
        """Embed only the fallback faces these texts need (the CJK face alone is 19 MB to
        parse); the code points that no face has are returned."""
        missing = {
            point
            for text in texts
            if not self.body.covers(text)
            for point in map(ord, text)
            if point not in self.body.cmap and not chr(point).isspace()
        }
        families = []
        for fallback in self._fonts.fallbacks:
            if not fallback.wanted_for(missing):
                continue
            self.add_font(
                fallback.family,
                "",
                str(fallback.font.path),
                collection_font_number=fallback.font.index,
            )
            face = _Face(self, fallback.family, "", BODY_SIZE)
            missing -= face.cmap.keys()
            families.append(face.family)
        if families:
            # For the title, the parameters and the cells the main face cannot draw.
            self.set_fallback_fonts(families, exact_match=False)
        # Arabic letters joined and in reading order, Indic conjuncts formed (uharfbuzz).
        self.set_text_shaping(True)
        return missing

    def start(self, layout: _Layout, group: list[int]) -> None:
        self._layout = layout
        self._group = group
        self.add_page(orientation="L" if layout.landscape else "P")

    def header(self) -> None:
        if self._layout is None:
            return
        if self.page_no() == 1:
            self._title_block()
        elif self._group is not self._layout.pages[0]:
            shown = ", ".join(self._layout.labels[index] for index in self._group)
            self.set_font(MAIN, "", 7)
            self.multi_cell(
                0, 3.5, f"{self._table.title}, continued: {shown}",
                new_x=XPos.LMARGIN, new_y=YPos.NEXT,
            )  # fmt: skip
            self.ln(1)
        self._column_header(self._layout)

    def _title_block(self) -> None:
        table = self._table
        self.set_font(MAIN, "B", TITLE_SIZE)
        self.multi_cell(0, 8, table.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(MAIN, "", 9)
        if table.parameters:
            text = "   ".join(f"{name}: {value}" for name, value in table.parameters.items())
            self.multi_cell(0, 4.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        generated = table.generated_at.astimezone(table.timezone).strftime("%Y-%m-%d %H:%M:%S")
        rows = f"{self._row_count:,} row{'s' if self._row_count != 1 else ''}"
        self.cell(
            0,
            4.5,
            f"Generated {generated} ({table.timezone.key})   {rows}",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        if self._note:
            self.multi_cell(0, 4.5, self._note, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def _column_header(self, layout: _Layout) -> None:
        self.set_font(MAIN, "B", BODY_SIZE)
        self.set_fill_color(*HEADER_FILL)
        y = self.get_y()
        labels = [layout.labels[index] for index in self._group]
        lines = self.cell_lines(labels, self._group, self.bold)
        height = self.row_height(lines)
        self.rect(self.l_margin, y, sum(layout.widths[i] for i in self._group), height, style="F")
        self.draw_row(lines, y)
        self.set_font(MAIN, "", BODY_SIZE)
        self.set_y(y + height)

    def footer(self) -> None:
        self.set_y(-MARGIN + 2)
        self.set_font(MAIN, "", 7)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="C")

    def cell_lines(
        self, texts: Sequence[str], group: list[int], face: _Face
    ) -> list[tuple[int, list[str] | str]]:
        """Each cell of a row as its lines, or as the text itself when fpdf2 must lay it out
        (characters the main face lacks: fallback fonts and shaping)."""
        assert self._layout is not None
        out: list[tuple[int, list[str] | str]] = []
        for index, text in zip(group, texts, strict=True):
            room = self._layout.widths[index] - 2 * PADDING
            if not text or face.covers(text):
                out.append((index, face.wrap(text, room) if text else []))
            else:
                out.append((index, text))
        return out

    def _shaped_lines(self, index: int, text: str) -> int:
        assert self._layout is not None
        lines = self.multi_cell(
            self._layout.widths[index], LINE_HEIGHT, text, dry_run=True, output="LINES"
        )
        assert isinstance(lines, list)
        return max(1, len(lines))

    def row_height(self, cells: list[tuple[int, list[str] | str]]) -> float:
        most = 1
        for index, lines in cells:
            count = len(lines) if isinstance(lines, list) else self._shaped_lines(index, lines)
            most = max(most, count)
        return max(ROW_HEIGHT, most * LINE_HEIGHT + 2 * (ROW_HEIGHT - LINE_HEIGHT) / 2)

    def draw_row(self, cells: list[tuple[int, list[str] | str]], y: float) -> None:
        """One table row at `y`, each cell's lines from the top."""
        assert self._layout is not None
        layout = self._layout
        top = y + (ROW_HEIGHT - LINE_HEIGHT) / 2
        x = self.l_margin
        face = self.body if self.font_style == "" else self.bold
        for index, lines in cells:
            width = layout.widths[index]
            align = layout.aligns[index]
            if isinstance(lines, list):
                for number, line in enumerate(lines):
                    baseline = top + number * LINE_HEIGHT + 0.75 * LINE_HEIGHT
                    used = face.width(line)
                    left = x + PADDING if align == "L" else x + width - PADDING - used
                    self.text(left, baseline, line)
            else:
                self.set_xy(x, top)
                self.multi_cell(width, LINE_HEIGHT, lines, align=align)
                self.set_font(MAIN, self.font_style, BODY_SIZE)
            x += width

    def measure(self, text: str, face: _Face) -> float:
        return face.width(text) if face.covers(text) else self.get_string_width(text)


def _is_key(column: Column) -> bool:
    return column.kind != "text" or bool(_KEY_NAME.search(column.name.lower()))


def _longest_word(pdf: _ReportPDF, text: str, face: _Face) -> float:
    return max((pdf.measure(word, face) for word in text.split()), default=0.0)


def _layout(pdf: _ReportPDF, columns: list[Column], rows: list[list[str]]) -> _Layout:
    """Key columns as wide as their widest value; text columns up to MAX_COLUMN, narrowed to
    MIN_TEXT_COLUMN before the table is split into groups of columns across pages."""
    labels = [column.label for column in columns]
    keys = [_is_key(column) for column in columns]
    pdf.set_font(MAIN, "B", BODY_SIZE)
    headings = [_longest_word(pdf, label, pdf.bold) for label in labels]
    natural = list(headings)
    pdf.set_font(MAIN, "", BODY_SIZE)
    for row in rows:
        for index, text in enumerate(row):
            if text:
                natural[index] = max(natural[index], pdf.measure(text, pdf.body))
    widths = [
        width + 2 * PADDING if key else min(width + 2 * PADDING, MAX_COLUMN)
        for width, key in zip(natural, keys, strict=True)
    ]
    portrait = A4_SHORT - 2 * MARGIN
    landscape = sum(widths) > portrait
    room = (A4_LONG if landscape else A4_SHORT) - 2 * MARGIN
    excess = sum(widths) - room
    if excess > 0:
        # A heading's longest word is never broken either.
        floors = [max(MIN_TEXT_COLUMN, heading + 2 * PADDING) for heading in headings]
        give = [
            0.0 if key else max(0.0, width - floor)
            for width, key, floor in zip(widths, keys, floors, strict=True)
        ]
        share = min(1.0, excess / sum(give)) if sum(give) else 0.0
        widths = [w - g * share for w, g in zip(widths, give, strict=True)]
    aligns: list[Literal["L", "R"]] = [
        "R" if column.kind in ("int", "float") else "L" for column in columns
    ]
    identity = [i for i, c in enumerate(columns) if _IDENTITY_NAME.search(c.name.lower())]
    return _Layout(labels, widths, aligns, landscape, _groups(widths, identity, room))


def _groups(widths: list[float], identity: list[int], room: float) -> list[list[int]]:
    """Columns in page-wide groups; groups after the first start with the identifying ones."""
    if sum(widths) <= room + _SLACK:
        return [list(range(len(widths)))]
    repeated = [i for i in identity if sum(widths[j] for j in identity[: identity.index(i) + 1])
                <= room / 2]  # fmt: skip
    groups: list[list[int]] = []
    current: list[int] = []
    used = 0.0
    for index, width in enumerate(widths):
        if current and used + width > room + _SLACK:
            groups.append(current)
            current = [i for i in repeated if i < index]
            used = sum(widths[i] for i in current)
        if index not in current:
            current.append(index)
            used += width
    groups.append(current)
    return groups


@contextmanager
def fpdf_quiet() -> Iterator[None]:
    """fpdf2 reports missing glyphs and font quirks through logging and warnings, in its own
    words and regardless of -q; manireports says what matters once, through ExportOptions.warn."""
    logger = logging.getLogger("fpdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def write_pdf(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """Lay out and write the whole report; refuse one longer than options.pdf_max_rows."""
    fonts = find_fonts(operator=options.pdf_fonts)
    apply = row_converter(converters(table.columns, "human", SiteClock(table.timezone)))
    bad = BadText(table.columns)
    limit = options.pdf_max_rows
    rows: list[list[str]] = []
    for chunk in batches(table.rows, len(table.columns)):
        chunk = bad.rows(chunk)
        rows.extend(map(list, chunk if apply is None else map(apply, chunk)))
        if len(rows) > limit:
            raise InputError(
                f"Report '{table.title}' has more than {limit:,} rows; PDF is for reading, "
                "use CSV or XLSX for data of this size."
            )
    bad.report(options.warn)

    shown = [i for i in range(len(table.columns)) if any(row[i] for row in rows)] if rows else []
    if not shown:
        shown = list(range(len(table.columns)))
    dropped = [table.columns[i].label for i in range(len(table.columns)) if i not in shown]
    note = f"Empty in every row, so left out: {', '.join(dropped)}." if dropped else ""
    columns = [table.columns[i] for i in shown]
    rows = [[row[i] for i in shown] for row in rows]

    with fpdf_quiet():
        pdf = _ReportPDF(table, fonts, len(rows), note)
        texts = {text for row in rows for text in row if not text.isascii()}
        texts.update(column.label for column in columns)
        texts.update((table.title, *table.parameters.keys(), *table.parameters.values()))
        missing = pdf.use_fallbacks(texts)
        if missing and options.warn is not None:
            affected = sum(1 for text in texts if any(ord(char) in missing for char in text))
            options.warn(missing_glyphs_message(missing, affected))
        layout = _layout(pdf, columns, rows)
        counter = RowCounter(options.progress)
        for group in layout.pages:
            pdf.start(layout, group)
            _draw_rows(pdf, layout, group, rows)
        counter.add(len(rows))
        stream.write(pdf.output())
    return counter.finish()


def _draw_rows(pdf: _ReportPDF, layout: _Layout, group: list[int], rows: list[list[str]]) -> None:
    bottom = pdf.h - MARGIN - 4
    table_width = sum(layout.widths[index] for index in group)
    for number, row in enumerate(rows):
        cells = pdf.cell_lines([row[index] for index in group], group, pdf.body)
        height = pdf.row_height(cells)
        y = pdf.get_y()
        if y + height > bottom:
            pdf.add_page(orientation="L" if layout.landscape else "P")
            y = pdf.get_y()
        if number % 2:
            pdf.set_fill_color(*ZEBRA_FILL)
            pdf.rect(MARGIN, y, table_width, height, style="F")
        pdf.draw_row(cells, y)
        pdf.set_y(y + height)
