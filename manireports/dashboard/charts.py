"""Charts drawn by matplotlib (Agg, no display needed): SVG inline in HTML, PNG in PDF.

SVG keeps text as text (`svg.fonttype = none`), so a chart's labels are searchable and scale
with the page; each one gets a <title> and <desc> and role="img", and the renderers put the data
table behind it. The id salt makes matplotlib's internal ids (clip paths, markers) unique per
chart, as several charts share one HTML document. matplotlib is imported on first use: it costs
a few tenths of a second that commands without charts should not pay. A command that will draw
charts starts that import in the background (`load_in_background`) while its reports wait on
the database, where it costs nothing.
"""

from __future__ import annotations

import io
import re
import threading
from html import escape
from typing import TYPE_CHECKING

from manireports.dashboard.model import Chart

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# The ManiReports plugin's scheme (Moodle's primary blue, then success, warning, danger, info).
PRIMARY = "#0f6cbf"
SUCCESS = "#28a745"
WARNING = "#ffc107"
DANGER = "#dc3545"
INFO = "#17a2b8"
GREY = "#6c757d"
SERIES_COLOURS = (PRIMARY, SUCCESS, DANGER, INFO, WARNING, GREY)
STATUS_COLOURS = {
    "Completed": SUCCESS,
    "In progress": INFO,
    "Not started": WARNING,
    "Not tracked": GREY,
}
TEXT = "#212529"
SIZE = (6.4, 3.6)
WIDE = (12.8, 3.6)


def load_in_background(fmt: str) -> None:
    """Import what drawing charts for `fmt` (html or pdf) needs, on a daemon thread; the first
    chart then finds it loaded, or waits for the import to end (Python's import lock)."""
    backend = (
        "matplotlib.backends.backend_svg" if fmt == "html" else "matplotlib.backends.backend_agg"
    )
    threading.Thread(target=_load, args=(backend,), name="load-matplotlib", daemon=True).start()


def _load(backend: str) -> None:
    import importlib

    importlib.import_module("matplotlib.figure")
    importlib.import_module(backend)


def _figure(chart: Chart) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=WIDE if chart.width == 12 else SIZE, layout="constrained")
    axes = figure.add_subplot()
    total = sum(sum(s.values) for s in chart.series)
    if not chart.labels or (chart.chart == "pie" and total <= 0):
        axes.set_axis_off()
        axes.text(0.5, 0.5, "No data", ha="center", va="center", color=TEXT, fontsize=12)
        return figure
    if chart.chart == "pie":
        values = chart.series[0].values
        shown = [(label, value) for label, value in zip(chart.labels, values, strict=True) if value]
        colours = [
            STATUS_COLOURS.get(label, SERIES_COLOURS[i % len(SERIES_COLOURS)])
            for i, (label, _) in enumerate(shown)
        ]
        axes.pie(
            [value for _, value in shown],
            labels=[f"{label} ({value:g})" for label, value in shown],
            colors=colours,
            startangle=90,
            counterclock=False,
            wedgeprops={"linewidth": 1.5, "edgecolor": "white"},
            textprops={"color": TEXT, "fontsize": 9},
        )
        axes.set_aspect("equal")
        return figure
    positions = list(range(len(chart.labels)))
    if chart.chart == "line":
        for index, series in enumerate(chart.series):
            colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
            axes.plot(positions, series.values, marker="o", color=colour, label=series.name)
    else:
        count = len(chart.series)
        width = 0.8 / count
        for index, series in enumerate(chart.series):
            offset = (index - (count - 1) / 2) * width
            axes.bar(
                [p + offset for p in positions],
                series.values,
                width=width,
                color=SERIES_COLOURS[index % len(SERIES_COLOURS)],
                label=series.name,
            )
    axes.set_xticks(
        positions,
        chart.labels,
        rotation=45 if len(chart.labels) > 6 else 0,
        ha="right" if len(chart.labels) > 6 else "center",
        fontsize=8,
    )
    axes.set_ylim(bottom=0, top=100 if chart.unit == "percent" else None)
    axes.grid(axis="y", color="#dee2e6")
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.tick_params(colors=TEXT, labelsize=8)
    if len(chart.series) > 1:
        axes.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.25),
            ncols=len(chart.series),
            frameon=False,
            fontsize=8,
        )
    return figure


def chart_svg(chart: Chart, ident: str) -> str:
    """An inline <svg> element, labelled for assistive technology by `ident`-title/-desc."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": ident, "font.family": "sans-serif"}):
        _figure(chart).savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, count=1, flags=re.DOTALL)
    head_end = text.index(">") + 1
    head = re.sub(r'\s(width|height)="[^"]*"', "", text[:head_end])
    labels = (
        f'<title id="{ident}-title">{escape(chart.title)}</title>'
        f'<desc id="{ident}-desc">{escape(chart.description)}</desc>'
    )
    head = head.replace("<svg", f'<svg role="img" aria-labelledby="{ident}-title {ident}-desc"', 1)
    return head + labels + text[head_end:]


def chart_png(chart: Chart, dpi: int = 150) -> bytes:
    buffer = io.BytesIO()
    _figure(chart).savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
