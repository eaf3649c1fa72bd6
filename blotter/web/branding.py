"""The agency's name, logo and colours, from settings: a small stylesheet of two custom
properties (the colours were validated as hex when the settings were read, so nothing else
can reach it) and the logo file, served by the portal itself. Pages link both; no page
carries an inline style, which the content security policy forbids."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from blotter.errors import NotFound
from blotter.settings import LOGO_TYPES, Settings
from blotter.web.rendering import HERE, portal_of

router = APIRouter(include_in_schema=False)
DEFAULT_LOGO = HERE / "static" / "favicon.svg"


def brand_css(settings: Settings) -> str:
    """The stylesheet that sets the header's and the links' colours."""
    return f":root {{ --head: {settings.brand_colour}; --accent: {settings.accent_colour}; }}\n"


@router.get("/brand.css")
def stylesheet(request: Request) -> Response:
    settings = portal_of(request).settings
    return Response(
        brand_css(settings),
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/brand/logo")
def logo(request: Request) -> Response:
    """The agency's logo file (the portal's icon when none is set)."""
    path = portal_of(request).settings.agency_logo or DEFAULT_LOGO
    if not path.is_file():
        raise NotFound("The agency's logo file (BLOTTER_AGENCY_LOGO) is missing on the server.")
    return FileResponse(
        path,
        media_type=LOGO_TYPES[path.suffix.lower()],
        headers={"Cache-Control": "public, max-age=3600"},
    )
