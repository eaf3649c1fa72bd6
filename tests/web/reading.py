"""Reading pages the way a test needs to: the status line, the data table, links, fields."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser


def status_line(page: str) -> str:
    match = re.search(r'role="status">([^<]*)<', page)
    assert match, "the page has no status line"
    return html.unescape(match.group(1))


def href(page: str, pattern: str) -> str:
    """The first link whose address matches ``pattern``, unescaped."""
    for found in re.findall(r'href="([^"]*)"', page):
        url = html.unescape(found)
        if re.search(pattern, url):
            return url
    raise AssertionError(f"no link matching {pattern!r}")


class _Table(HTMLParser):
    """Cells of the first ``<table class="data">``: header attributes and body text."""

    def __init__(self) -> None:
        super().__init__()
        self.state = "before"  # "in" the data table, or "done" with it
        self.headers: list[dict[str, str | None]] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "data") in attrs and self.state == "before":
            self.state = "in"
        elif self.state != "in":
            return
        elif tag == "tbody":
            self._in_body = True
        elif tag == "th" and not self._in_body:
            self.headers.append(dict(attrs))
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self.state != "in":
            return
        if tag == "table":
            self.state = "done"
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def data_table(page: str) -> _Table:
    table = _Table()
    table.feed(page)
    assert table.state == "done", "the page has no data table"
    return table


def column(page: str, index: int) -> list[str]:
    return [row[index] for row in data_table(page).rows]
