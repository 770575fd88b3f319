"""How a dashboard's figures read, the same in HTML, PDF and on the terminal."""

from __future__ import annotations

from typing import Any

from manireports.dashboard.model import Kpi, Unit


def figure_text(value: float | None, unit: Unit) -> str:
    if value is None:
        return "–"
    if unit == "seconds":
        hours = value / 3600
        return f"{hours:,.1f} h"
    if unit == "percent":
        return f"{value:,.1f} %"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def delta_text(kpi: Kpi) -> str:
    """'+12 (2026-05 against 2026-04)', or that there is nothing to compare with."""
    delta = kpi.delta
    if delta is None:
        return f"no earlier value ({kpi.note})" if kpi.note else "no earlier value"
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    amount = figure_text(abs(delta), kpi.unit).replace(" %", " points")
    return f"{sign}{amount} ({kpi.note})"


def direction(kpi: Kpi) -> str:
    """up, down or flat, for the arrow and its colour."""
    delta = kpi.delta
    if not delta:
        return "flat"
    return "up" if delta > 0 else "down"


def tone(kpi: Kpi) -> str:
    """good, bad or flat: the colour of the change, which depends on which way is better."""
    way = direction(kpi)
    if way == "flat":
        return "flat"
    return "good" if way == kpi.better else "bad"


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}" if not value.is_integer() else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
