"""A dashboard on A4 pages: the HTML page's content in print form, with fpdf2.

Charts are matplotlib PNGs (fpdf2's SVG support does not cover matplotlib's text-as-text SVG);
each is followed by its data, as in the HTML. KPI cards sit three to a row; tables use fpdf2's
table layout, which repeats the heading row on a new page. Fonts come from the same search as
report PDFs, so any script's names print; a fallback face is embedded only when a text needs it.
"""

from __future__ import annotations

import io
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace, TTFFont

from manireports.dashboard.charts import chart_png
from manireports.dashboard.model import Chart, Dashboard, Kpi, Table
from manireports.dashboard.text import cell_text, delta_text, figure_text, tone
from manireports.export.fonts import find_fonts

MARGIN = 12.0
FONT = "DashSans"
PRIMARY = (15, 108, 191)
MUTED = (73, 80, 87)
# The colour of a change for the better and for the worse (dark enough on white to read).
TONES = {"good": (21, 115, 71), "bad": (176, 42, 55), "flat": MUTED}
HEADING_FILL = (233, 238, 245)
CARD_BORDER = (222, 226, 230)
KPI_HEIGHT = 26.0
CHART_WIDTH = 150.0


class _DashboardPDF(FPDF):
    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(FONT, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")


def _texts(dashboard: Dashboard) -> set[str]:
    texts = {dashboard.title, dashboard.viewer}
    for widget in dashboard.widgets:
        texts.add(widget.title)
        if isinstance(widget, Table):
            texts.update(cell_text(v) for row in widget.rows for v in row)
            texts.update(widget.columns)
        elif isinstance(widget, Chart):
            texts.update(widget.labels)
    return texts


def _fonts(pdf: FPDF, dashboard: Dashboard) -> None:
    fonts = find_fonts()
    pdf.add_font(FONT, "", str(fonts.regular.path), collection_font_number=fonts.regular.index)
    pdf.add_font(FONT, "B", str(fonts.bold.path), collection_font_number=fonts.bold.index)
    main = pdf.fonts[FONT.lower()]
    assert isinstance(main, TTFFont)
    missing = {ord(c) for text in _texts(dashboard) for c in text if ord(c) not in main.cmap}
    families = []
    for fallback in fonts.fallbacks:
        if fallback.wanted_for(missing):
            pdf.add_font(
                fallback.family,
                "",
                str(fallback.font.path),
                collection_font_number=fallback.font.index,
            )
            face = pdf.fonts[fallback.family.lower()]
            assert isinstance(face, TTFFont)
            missing -= face.cmap.keys()
            families.append(fallback.family)
    if families:
        pdf.set_fallback_fonts(families, exact_match=False)


def render_pdf(dashboard: Dashboard) -> bytes:
    pdf = _DashboardPDF(unit="mm", format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_title(dashboard.title)
    pdf.set_creator("manireports")
    _fonts(pdf, dashboard)
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.set_text_color(*PRIMARY)
    pdf.cell(0, 9, dashboard.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    pdf.set_text_color(*MUTED)
    company = "" if dashboard.company is None else f", company {dashboard.company}"
    pdf.multi_cell(
        0,
        5,
        f"For {dashboard.viewer} ({dashboard.role}){company}. Generated "
        f"{dashboard.generated} ({dashboard.timezone}).",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    kpis = [w for w in dashboard.widgets if isinstance(w, Kpi)]
    _kpi_cards(pdf, kpis)
    for widget in dashboard.widgets:
        if isinstance(widget, Chart):
            _chart(pdf, widget)
        elif isinstance(widget, Table):
            _table(
                pdf,
                widget.title,
                widget.columns,
                widget.rows,
                widget.numeric,
                widget.note,
            )
    return bytes(pdf.output())


def _heading(pdf: FPDF, title: str, needed: float) -> None:
    if pdf.get_y() + needed > pdf.h - 20:
        pdf.add_page()
    pdf.ln(2)
    pdf.set_font(FONT, "B", 12)
    pdf.set_text_color(*PRIMARY)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _kpi_cards(pdf: FPDF, kpis: list[Kpi]) -> None:
    width = (pdf.w - 2 * MARGIN - 2 * 4) / 3
    for index, kpi in enumerate(kpis):
        column = index % 3
        if column == 0:
            if index:
                pdf.set_y(pdf.get_y() + KPI_HEIGHT + 4)
            if pdf.get_y() + KPI_HEIGHT > pdf.h - 20:
                pdf.add_page()
        x, y = MARGIN + column * (width + 4), pdf.get_y()
        pdf.set_draw_color(*CARD_BORDER)
        pdf.rect(x, y, width, KPI_HEIGHT)
        pdf.set_xy(x + 2, y + 2)
        pdf.set_font(FONT, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.cell(width - 4, 5, kpi.title)
        pdf.set_xy(x + 2, y + 8)
        pdf.set_font(FONT, "B", 15)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(width - 4, 8, figure_text(kpi.value, kpi.unit))
        pdf.set_xy(x + 2, y + 17)
        pdf.set_font(FONT, "", 7)
        pdf.set_text_color(*TONES[tone(kpi)])
        pdf.multi_cell(width - 4, 3.5, delta_text(kpi))
        pdf.set_xy(MARGIN, y)
    if kpis:
        pdf.set_y(pdf.get_y() + KPI_HEIGHT + 4)


def _chart(pdf: FPDF, chart: Chart) -> None:
    height = CHART_WIDTH * 3.6 / 6.4
    _heading(pdf, chart.title, height + 20)
    pdf.image(
        io.BytesIO(chart_png(chart)),
        x=(pdf.w - CHART_WIDTH) / 2,
        w=CHART_WIDTH,
        alt_text=f"{chart.title}. {chart.description}",
    )
    pdf.set_font(FONT, "", 8)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(0, 4, chart.description, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    rows = [
        [label, *(figure_text(s.values[i], "number") for s in chart.series)]
        for i, label in enumerate(chart.labels)
    ]
    _table(
        pdf,
        None,
        ["Status" if chart.chart == "pie" else "Label", *(s.name for s in chart.series)],
        rows,
        [False, *(True for _ in chart.series)],
        None,
    )


def _table(
    pdf: FPDF,
    title: str | None,
    columns: list[str],
    rows: list[list[Any]],
    numeric: list[bool],
    note: str | None,
) -> None:
    if title is not None:
        _heading(pdf, title, 20)
    pdf.set_font(FONT, "", 8)
    if rows:
        align = tuple("RIGHT" if n else "LEFT" for n in numeric)
        heading = FontFace(emphasis="BOLD", fill_color=HEADING_FILL)
        with pdf.table(
            text_align=align,
            headings_style=heading,
            line_height=5,
            repeat_headings=1,
            cell_fill_color=(248, 249, 250),
            cell_fill_mode="ROWS",
            borders_layout="HORIZONTAL_LINES",
        ) as table:
            table.row(columns)
            for row in rows:
                table.row([cell_text(value) for value in row])
    if note:
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(0, 5, note, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    pdf.ln(2)
