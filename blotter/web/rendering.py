"""Templates and value formatting shared by every page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from blotter.api.serialize import format_number
from blotter.model import ColumnType
from blotter.portal import Portal

HERE = Path(__file__).parent

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def render(request: Request, template: str, context: Any, status: int = 200) -> HTMLResponse:
    portal = portal_of(request)
    html = env.get_template(template).render(page=context, site=portal.settings.site_name)
    return HTMLResponse(html, status_code=status)


def display(column_type: ColumnType | None, value: Any) -> str:
    """A value as a person reads it on a page."""
    if value is None:
        return ""
    if column_type is ColumnType.POINT:
        lon, lat = value
        return f"{lat:.5f}, {lon:.5f}"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, datetime):
        return (
            value.strftime("%Y-%m-%d")
            if value.time() == datetime.min.time()
            else (value.strftime("%Y-%m-%d %H:%M"))
        )
    return str(value)


def friendly_date(value: datetime | None) -> str:
    return value.strftime("%B %-d, %Y") if value else "never"
