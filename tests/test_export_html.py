"""HTML parsed back: escaped values, a self-contained page, an accessible table."""

from __future__ import annotations

import io
import zoneinfo
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from manireports.export import Column, ReportTable, export

LONDON = zoneinfo.ZoneInfo("Europe/London")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[list[str]] = []
        self.headers: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "tr":
            self.cells.append([])
        if tag in ("td", "th"):
            self._in = tag
            if tag == "td":
                self.cells[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "td":
            self.cells[-1][-1] += data
        elif self._in == "th":
            self.headers.append(data)


def render() -> str:
    table = ReportTable(
        title="Course <completion> & more",
        columns=[
            Column("userid", "int"),
            Column("fullname", title="Full name"),
            Column("enrolled", "timestamp"),
            Column("completed", "bool"),
        ],
        rows=iter(
            [
                (1, "<script>alert('x')</script>", 1719835200, 1),
                (2, 'O\'Brien & Sons "Ltd"', 0, 0),
                (3, "田中 太郎", None, None),
            ]
        ),
        parameters={"courseid": "<7>"},
        generated_at=datetime(2024, 7, 2, 9, 30, tzinfo=LONDON),
        timezone=LONDON,
    )
    stream = io.BytesIO()
    assert export(table, "html", stream).rows == 3
    return stream.getvalue().decode("utf-8")


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def test_values_are_escaped_text() -> None:
    html = render()
    page = parse(html)
    assert all(tag != "script" for tag, _ in page.tags)
    rows = [cells for cells in page.cells if cells]
    assert rows[0] == ["1", "<script>alert('x')</script>", "2024-07-01 13:00:00", "true"]
    assert rows[1] == ["2", 'O\'Brien & Sons "Ltd"', "", "false"]
    assert rows[2] == ["3", "田中 太郎", "", ""]
    assert "Course &lt;completion&gt; &amp; more" in html
    assert "&lt;7&gt;" in html


def test_page_is_self_contained() -> None:
    html = render()
    for needle in ("http://", "https://", "src=", "<script", "<link", "@import", "url("):
        assert needle not in html


def test_page_is_accessible() -> None:
    page = parse(render())
    tags: dict[str, list[dict[str, Any]]] = {}
    for tag, attrs in page.tags:
        tags.setdefault(tag, []).append(attrs)
    assert tags["html"][0]["lang"] == "en"
    assert {"charset": "utf-8"} in tags["meta"]
    assert "caption" in tags
    assert all(attrs.get("scope") == "col" for attrs in tags["th"])
    assert page.headers == ["userid", "Full name", "enrolled", "completed"]


def test_styles_give_a_sticky_zebra_table() -> None:
    html = render()
    assert "position: sticky" in html
    assert "nth-child(even)" in html
    assert "3 rows" in html
