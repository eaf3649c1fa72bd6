"""The running portal's references: settings and store. It holds no behaviour; the edges
find it on the request (``portal_of``)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from blotter.settings import Settings
from blotter.store.base import Store


@dataclass
class Portal:
    settings: Settings
    store: Store


def portal_of(request: Request) -> Portal:
    """The portal the app serving ``request`` holds (``app.py`` sets it once)."""
    portal: Portal = request.app.state.portal
    return portal
