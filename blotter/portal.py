"""The running portal's references: settings and store. It holds no behaviour."""

from __future__ import annotations

from dataclasses import dataclass

from blotter.settings import Settings
from blotter.store.base import Store


@dataclass
class Portal:
    settings: Settings
    store: Store
