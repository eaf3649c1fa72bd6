"""Templates and value formatting shared by every page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from blotter.auth import viewer_of
from blotter.errors import BlotterError
from blotter.formatting import format_number
from blotter.model import ColumnType, Session, User
from blotter.portal import Portal
from blotter.portal import portal_of as portal_of  # where every page module finds it

HERE = Path(__file__).parent

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def compile_templates() -> None:
    """Compile every page's template now (a few hundred ms in all), not on its first
    request: Jinja keeps each compiled template for the process."""
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)


@dataclass
class OpenGraph:
    """What a shared link shows: the page's title and summary, and its address."""

    title: str
    description: str
    url: str
    type: str = "website"


def absolute_url(request: Request, path: str = "") -> str:
    """The portal's address for ``path`` ("/datasets/x?y=1"), for links that leave the page:
    examples to copy, embed snippets, Open Graph. The one place that knows the portal's own
    address: the configured public address (``BLOTTER_PUBLIC_URL``), never the request's
    ``Host``, which a client can set to anything."""
    return portal_of(request).settings.base_url.rstrip("/") + path


class PageContext(Protocol):
    """What every page's typed context offers the layout: its title."""

    @property
    def title(self) -> str: ...


def render(
    request: Request,
    template: str,
    context: PageContext,
    status: int = 200,
    og: OpenGraph | None = None,
    *,
    anonymous: bool = False,
) -> HTMLResponse:
    """A page from its template and typed context; every page gets Open Graph tags (its
    own summary when the view gives one, the portal's otherwise). ``anonymous`` renders it
    without working out who asks (a refusal that must stay cheap, such as a throttled
    request, never checks credentials)."""
    portal = portal_of(request)
    me, csrf = (None, "") if anonymous else _signed_in(request, portal)
    site = portal.settings.site_name
    if og is None:
        og = OpenGraph(
            title=f"{context.title} · {site}",
            description=f"{site}: open public-safety data, to read, filter, chart and download.",
            url=absolute_url(request, request.url.path),
        )
    html = env.get_template(template).render(page=context, site=site, me=me, csrf=csrf, og=og)
    response = HTMLResponse(html, status_code=status)
    if me is not None:  # pages for staff may show internal data: never cache them shared
        response.headers["Cache-Control"] = "private, no-store"
    return response


def render_error(
    request: Request, template: str, context: Any, err: BlotterError, *, anonymous: bool = False
) -> HTMLResponse:
    """The one place a page answers with a portal error: the error page, or a staff form
    shown again with what was wrong, at the error's status and with its headers."""
    response = render(request, template, context, status=err.status, anonymous=anonymous)
    response.headers.update(err.headers)
    return response


def _signed_in(request: Request, portal: Portal) -> tuple[User | None, str]:
    """The account the page is for and its session's CSRF token, for the header's forms."""
    try:
        viewer = viewer_of(request, portal.store)
    except BlotterError:  # a bad credential on a page is reported by the page itself
        return None, ""
    session = getattr(request.state, "session", None)
    return viewer.user, session.csrf if isinstance(session, Session) else ""


# Any: a cell as the engine's driver returns it (its rows are untyped), a point as a pair.
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
