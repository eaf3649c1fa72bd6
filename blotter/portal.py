"""The running portal's references: settings, store, and what to do after a write the server
took (``after_write``, which ``app.py`` sets: store the page's first view again). It holds
no behaviour of its own; the edges find it on the request (``portal_of``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request

from blotter.settings import Settings
from blotter.store.base import Store


def _nothing(_dataset_id: str) -> None:
    return None


@dataclass
class Portal:
    settings: Settings
    store: Store
    # Called with a dataset's id after the server wrote to it (rows or metadata).
    after_write: Callable[[str], None] = field(default=_nothing)


def portal_of(request: Request) -> Portal:
    """The portal the app serving ``request`` holds (``app.py`` sets it once)."""
    portal: Portal = request.app.state.portal
    return portal
