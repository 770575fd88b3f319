"""PDF for reading and printing: A4, a header row on every page, any script's names.

PDF layout needs every row before the first page is final (the page count goes in every footer),
so this writer holds the rows; `ExportOptions.pdf_max_rows` bounds that, and a larger report is
refused before a byte is written: PDF is for reading, CSV and XLSX are for data.

Speed: fpdf2's cell() is about ten times slower than its text(), mostly in the per-character
font and markdown handling that table cells do not need. Cells the main font can draw (nearly
all of them: Noto Sans covers Latin, Greek and Cyrillic) are measured with the font's own advance
widths and drawn with text(); only cells with characters the main font lacks (CJK, Arabic, ...)
go through cell(), which applies fpdf2's fallback fonts and, when uharfbuzz is installed, its text
shaping and bidirectional ordering. Long values are cut with an ellipsis, never wrapped, so every
row is one line.
"""

from __future__ import annotations

import importlib.util
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import BinaryIO, Literal

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from manireports.errors import InputError
from manireports.export.fonts import FontSet, find_fonts
from manireports.export.model import ExportOptions, ReportTable
from manireports.export.values import (
    CHUNK_ROWS,
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
PADDING = 1.2
# Column widths are a value's width plus padding; taking the padding off again may come out a
# hair short in floating point, which must not cut the widest value of a column.
_SLACK = 1e-6
MAX_COLUMN = 70.0
"""No column may claim more than this before shrinking; a long comment column would starve all."""

SAMPLE_ROWS = CHUNK_ROWS
ELLIPSIS = "…"
HEADER_FILL = (220, 230, 241)
ZEBRA_FILL = (244, 246, 248)
MAIN = "ReportSans"
_POINT = 25.4 / 72  # millimetres per point
_RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_COMPLEX_SCRIPT = re.compile("[\u0590-\u0dff\u0e00-\u0eff\ufb1d-\ufdff\ufe70-\ufeff]")
"""Scripts whose letters change shape or order in context: worth the cost of text shaping."""


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

    def clip(self, text: str, room: float) -> tuple[str, float]:
        """The text, cut with an ellipsis to fit `room`, and its width."""
        total = self.width(text)
        if total <= room + _SLACK:
            return text, total
        if text.isascii():
            advances = list(map(self._ascii.__getitem__, text.encode("ascii")))
        else:
            advances = [width * self._scale for width in map(self._width, map(ord, text))]
        keep = bisect_right(list(accumulate(advances)), room - self.width(ELLIPSIS))
        clipped = text[:keep].rstrip() + ELLIPSIS
        return clipped, self.width(clipped)


@dataclass(frozen=True)
class _Layout:
    labels: list[str]
    widths: list[float]
    aligns: list[Literal["L", "R"]]
    landscape: bool


class _ReportPDF(FPDF):
    def __init__(self, table: ReportTable, fonts: FontSet, row_count: int) -> None:
        super().__init__(unit="mm", format="A4")
        self._table = table
        self._row_count = row_count
        self._layout: _Layout | None = None
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(False)
        self.c_margin = PADDING
        self.add_font(MAIN, "", str(fonts.regular.path), collection_font_number=fonts.regular.index)
        self.add_font(MAIN, "B", str(fonts.bold.path), collection_font_number=fonts.bold.index)
        self.body = _Face(self, MAIN, "", BODY_SIZE)
        self.bold = _Face(self, MAIN, "B", BODY_SIZE)
        self._fonts = fonts
        self._fallbacks: list[_Face] = []
        self._shaping = False
        self.set_title(table.title)
        self.set_creator("manireports")
        self.set_creation_date(table.generated_at)

    def use_fallbacks(self, texts: set[str]) -> None:
        """Embed only the fallback faces these texts need: the CJK face alone is 19 MB to parse."""
        missing = {
            point
            for text in texts
            if not self.body.covers(text)
            for point in map(ord, text)
            if point not in self.body.cmap
        }
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
            self._fallbacks.append(face)
        if self._fallbacks:
            # For the title, the parameters and shaped cells, which go through cell().
            self.set_fallback_fonts([face.family for face in self._fallbacks], exact_match=False)
        if importlib.util.find_spec("uharfbuzz") is not None:
            self.set_text_shaping(True)
            self._shaping = True

    def start(self, layout: _Layout) -> None:
        self._layout = layout
        self.add_page(orientation="L" if layout.landscape else "P")

    def header(self) -> None:
        if self._layout is None:
            return
        if self.page_no() == 1:
            self._title_block()
        self._column_header(self._layout)

    def _title_block(self) -> None:
        table = self._table
        self.set_font(MAIN, "B", TITLE_SIZE)
        self.cell(0, 8, table.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
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
        self.ln(2)

    def _column_header(self, layout: _Layout) -> None:
        self.set_font(MAIN, "B", BODY_SIZE)
        self.set_fill_color(*HEADER_FILL)
        y = self.get_y()
        self.rect(self.l_margin, y, sum(layout.widths), ROW_HEIGHT, style="F")
        self.draw_row(layout, layout.labels, y, self.bold)
        self.set_font(MAIN, "", BODY_SIZE)
        self.set_y(y + ROW_HEIGHT)

    def footer(self) -> None:
        self.set_y(-MARGIN + 2)
        self.set_font(MAIN, "", 7)
        self.cell(0, 4, f"Page {self.page_no()} of {{nb}}", align="C")

    def draw_row(self, layout: _Layout, texts: Sequence[str], y: float, face: _Face) -> None:
        """One table row at `y`; every value on one line, cut with an ellipsis when too long."""
        baseline = y + ROW_HEIGHT / 2 + 0.35 * BODY_SIZE * _POINT
        x = self.l_margin
        for text, width, align in zip(texts, layout.widths, layout.aligns, strict=True):
            if text:
                room = width - 2 * PADDING
                if face.covers(text):
                    shown, used = face.clip(text, room)
                    left = x + PADDING if align == "L" else x + width - PADDING - used
                    self.text(left, baseline, shown)
                elif self._shaping and _COMPLEX_SCRIPT.search(text):
                    self.set_xy(x, y)
                    self.cell(width, ROW_HEIGHT, self._fit(text, room), align=align)
                else:
                    self._draw_runs(text, x, width, align, baseline, face)
            x += width

    def _draw_runs(
        self, text: str, x: float, width: float, align: str, baseline: float, face: _Face
    ) -> None:
        """Draw text the main face lacks glyphs for as runs of fallback faces, with text().

        A character stays in the current run's face when that face has it, so a space between
        two Arabic words does not split them; without a shaping engine a right-to-left run is
        drawn reversed, which puts its letters in reading order (unjoined, but legible).
        """
        faces = [face, *self._fallbacks]
        owners: list[int] = []
        current = 0
        for char in text:
            point = ord(char)
            if point not in faces[current].cmap:
                current = next((i for i, f in enumerate(faces) if point in f.cmap), 0)
            owners.append(current)
        advances = [faces[owner].width(char) for owner, char in zip(owners, text, strict=True)]
        room = width - 2 * PADDING
        if sum(advances) > room:
            keep = bisect_right(list(accumulate(advances)), room - face.width(ELLIPSIS))
            text = text[:keep] + ELLIPSIS
            owners = [*owners[:keep], 0]
            advances = [*advances[:keep], face.width(ELLIPSIS)]
        left = x + PADDING if align == "L" else x + width - PADDING - sum(advances)
        start = 0
        for end in range(1, len(text) + 1):
            if end < len(text) and owners[end] == owners[start]:
                continue
            run = text[start:end]
            if not self._shaping and _RIGHT_TO_LEFT.search(run):
                run = run[::-1]
            run_face = faces[owners[start]]
            self.set_font(run_face.family, run_face.style, BODY_SIZE)
            self.text(left, baseline, run)
            left += sum(advances[start:end])
            start = end
        self.set_font(face.family, face.style, BODY_SIZE)

    def measure(self, text: str, face: _Face) -> float:
        return face.width(text) if face.covers(text) else self.get_string_width(text)

    def _fit(self, text: str, room: float) -> str:
        # Cells that need fallback fonts are rare, so a binary search over get_string_width is
        # affordable here where it would not be for every cell.
        if self.get_string_width(text) <= room + _SLACK:
            return text
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if self.get_string_width(text[:middle] + ELLIPSIS) <= room:
                low = middle
            else:
                high = middle - 1
        return text[:low].rstrip() + ELLIPSIS


def _layout(pdf: _ReportPDF, table: ReportTable, rows: list[list[str]]) -> _Layout:
    """Widths from the header and a sample of rows, shrunk in proportion when the page is full."""
    labels = [column.label for column in table.columns]
    pdf.set_font(MAIN, "B", BODY_SIZE)
    natural = [pdf.measure(label, pdf.bold) for label in labels]
    pdf.set_font(MAIN, "", BODY_SIZE)
    for row in rows[:SAMPLE_ROWS]:
        for index, text in enumerate(row):
            if text:
                natural[index] = max(natural[index], pdf.measure(text, pdf.body))
    natural = [min(width + 2 * PADDING, MAX_COLUMN) for width in natural]
    total = sum(natural)
    landscape = total > A4_SHORT - 2 * MARGIN
    room = (A4_LONG if landscape else A4_SHORT) - 2 * MARGIN
    widths = [width * room / total for width in natural] if total > room else natural
    aligns: list[Literal["L", "R"]] = [
        "R" if column.kind in ("int", "float") else "L" for column in table.columns
    ]
    return _Layout(labels, widths, aligns, landscape)


def write_pdf(table: ReportTable, stream: BinaryIO, options: ExportOptions) -> int:
    """Lay out and write the whole report; refuse one longer than options.pdf_max_rows."""
    fonts = find_fonts()
    apply = row_converter(converters(table.columns, "human", SiteClock(table.timezone)))
    limit = options.pdf_max_rows
    rows: list[list[str]] = []
    for chunk in batches(table.rows, len(table.columns)):
        rows.extend(map(list, chunk if apply is None else map(apply, chunk)))
        if len(rows) > limit:
            raise InputError(
                f"Report '{table.title}' has more than {limit:,} rows; PDF is for reading, "
                "use CSV or XLSX for data of this size."
            )

    pdf = _ReportPDF(table, fonts, len(rows))
    texts = {text for row in rows for text in row if not text.isascii()}
    texts.update(column.label for column in table.columns)
    texts.update((table.title, *table.parameters.keys(), *table.parameters.values()))
    pdf.use_fallbacks(texts)
    layout = _layout(pdf, table, rows)
    pdf.start(layout)
    bottom = pdf.h - MARGIN - 4
    table_width = sum(layout.widths)
    counter = RowCounter(options.progress)
    for index, row in enumerate(rows):
        y = pdf.get_y()
        if y + ROW_HEIGHT > bottom:
            pdf.add_page()
            y = pdf.get_y()
        if index % 2:
            pdf.set_fill_color(*ZEBRA_FILL)
            pdf.rect(MARGIN, y, table_width, ROW_HEIGHT, style="F")
        pdf.draw_row(layout, row, y, pdf.body)
        pdf.set_y(y + ROW_HEIGHT)
        if (index + 1) % CHUNK_ROWS == 0:
            counter.add(CHUNK_ROWS)
    counter.add(len(rows) % CHUNK_ROWS)
    stream.write(pdf.output())
    return counter.finish()
