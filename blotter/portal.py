"""The running portal's references: settings and store. It holds no behaviour."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from blotter.model import Dataset
from blotter.settings import Settings
from blotter.store.base import Store


@dataclass
class Portal:
    settings: Settings
    store: Store
    # The SHA-256 of a version's canonical CSV, for the pages (which may not import the API
    # that writes it): set by ``app.py``. Interim until the exports' own function, below
    # the edges, is merged; then the pages call it directly.
    version_checksum: Callable[[Store, Settings, Dataset], str] | None = None
