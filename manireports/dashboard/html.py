"""A dashboard as one self-contained HTML file: inline CSS and SVG, no script, nothing fetched.

The page reads offline and in mail clients. It is laid out on a 12-column CSS grid that falls
back to one column at phone width; every chart is an SVG labelled with its title and description
with its data in a table beneath it; tables that are wider than the screen scroll inside a
focusable region, and every focusable thing shows a visible focus ring.
"""

from __future__ import annotations

import jinja2
from markupsafe import Markup

from manireports.dashboard.charts import chart_svg
from manireports.dashboard.model import Chart, Dashboard
from manireports.dashboard.text import cell_text, delta_text, direction, figure_text, tone

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("manireports.dashboard", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
_environment.filters.update(figure=figure_text, cell=cell_text)
_environment.globals.update(delta_text=delta_text, direction=direction, tone=tone)


def render_html(dashboard: Dashboard) -> str:
    charts = {
        # matplotlib writes the SVG; the only texts in it from data are escaped by chart_svg.
        index: Markup(chart_svg(widget, f"chart{index}"))  # noqa: S704
        for index, widget in enumerate(dashboard.widgets)
        if isinstance(widget, Chart)
    }
    template = _environment.get_template("dashboard.html.j2")
    return template.render(dashboard=dashboard, charts=charts)
