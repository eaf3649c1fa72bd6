"""The SHA-256 of a version's canonical CSV, kept once computed.

Interim: the exports branch gives ``blotter.exports.files.public_checksum(store, settings,
dataset)`` from its cached export file; :func:`public_checksum` here has the same signature
and the same answer, and is the one function to swap for it. The pages reach it through
``Portal.version_checksum`` (wired in ``app.py``), since they may not import the API.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from blotter.access import ANONYMOUS, as_seen_by
from blotter.api.csv_export import csv_body
from blotter.model import Dataset
from blotter.portal import Portal
from blotter.queries import prepare_query
from blotter.settings import Settings
from blotter.store.base import Store

_lock = threading.Lock()


def public_checksum(store: Store, settings: Settings, dataset: Dataset) -> str:
    """The SHA-256 (hex) of ``GET /api/views/{id}/rows.csv?$$version=N`` as anonymous
    downloads it (public columns, whoever asks), for ``dataset`` read at version N.

    Computed from the bytes the export path writes, once per version and column set, and
    kept under ``DATA_DIR/checksums/``: a version never changes, and the column set (today's
    data dictionary) and the version's time are part of the name, so a kept sum cannot go
    stale."""
    public = as_seen_by(ANONYMOUS, dataset)
    # The column set, and the version's publication time: a dataset deleted and created
    # again under the same id starts its versions anew.
    published = public.rows_updated_at.isoformat() if public.rows_updated_at else ""
    columns = json.dumps([published, [[c.field_name, str(c.type)] for c in public.columns]])
    digest = hashlib.sha256(columns.encode()).hexdigest()[:16]
    path = settings.data_dir / "checksums" / f"{public.id}-v{public.version}-{digest}.sha256"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    prepared = prepare_query(store, public, {}, settings, unlimited=True)
    sha = hashlib.sha256()
    for chunk in csv_body(Portal(settings, store, public_checksum), prepared):
        sha.update(chunk)
    _keep(path, sha.hexdigest())
    return sha.hexdigest()


def _keep(path: Path, value: str) -> None:
    """Write the sum under a temporary name, then rename it into place."""
    with _lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(value + "\n")
        temporary.replace(path)
