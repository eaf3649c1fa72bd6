"""A whole export's file removed while its answer is being made is still sent whole.

Between the moment a request finds a version's export file and the moment its bytes go out,
a publish's clean-up (or another process's) can remove the file. The API opens the file
when it finds it; from then on the removal cannot reach the answer. Over real HTTP on both
engines, a hook on that step publishes a new version and runs the real clean-up
(``exports.files.sweep``) right after the file is found, and checks the file is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pyarrow as pa
import pytest

from blotter.api import csv_export
from blotter.app import create_app
from blotter.exports.files import sweep
from blotter.model import Dataset
from blotter.settings import Settings
from tests.conftest import LiveServer, serve_in_thread
from tests.exports.test_files import NEW_PUBLIC_CSV, NEW_ROWS, PUBLIC_CSV
from tests.portal import COLUMNS, PUBLIC, ROWS, Portal

URL = f"/api/views/{PUBLIC}/rows.csv"


@pytest.fixture
def server(portal: Portal) -> Iterator[LiveServer]:
    yield from serve_in_thread(create_app(portal.settings, store=portal.store))


def _sweep_once_found(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Whenever an export file is found, publish a new version (the new rows and the original
    ones in turn) and sweep, before its bytes are sent. Returns the files removed so."""
    found = csv_export.open_export
    removed: list[str] = []

    def publish_and_sweep(settings: Settings, dataset: Dataset) -> BinaryIO | None:
        source = found(settings, dataset)
        if source is not None:
            rows = NEW_ROWS if len(removed) % 2 == 0 else ROWS
            portal.store.publish(PUBLIC, COLUMNS, [pa.record_batch(rows)])
            sweep(portal.store, portal.settings)
            assert not Path(source.name).exists(), "the clean-up left the file"
            removed.append(source.name)
        return source

    monkeypatch.setattr(csv_export, "open_export", publish_and_sweep)
    return removed


def _get(server: LiveServer, **kwargs: Any) -> httpx.Response:
    return httpx.get(f"{server.url}{URL}", timeout=30, **kwargs)


# How each answer is asked for, and what it is made of the version's CSV.
CASES: list[tuple[dict[str, Any], Callable[[bytes], bytes], int]] = [
    ({}, lambda csv: csv, 200),
    ({"headers": {"Range": "bytes=8-27"}}, lambda csv: csv[8:28], 206),
    ({"params": {"$$bom": "true"}}, lambda csv: b"\xef\xbb\xbf" + csv, 200),
]


def test_a_file_swept_after_it_is_found_is_still_sent_whole(
    portal: Portal, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole file, a byte range and the $$bom answer, each with its file removed once
    found: the answer is the version the request found, with its length and validators."""
    removed = _sweep_once_found(portal, monkeypatch)
    versions = [PUBLIC_CSV, NEW_PUBLIC_CSV] * 2  # each hook publishes the next
    for number, (asked, shaped, status) in enumerate(CASES):
        current = versions[number]
        first = _get(server)  # no file yet: streamed while it is written, nothing swept
        assert first.content == current and "accept-ranges" not in first.headers
        assert len(removed) == number
        answer = _get(server, **asked)
        assert len(removed) == number + 1, "the answer did not come from the file"
        assert answer.status_code == status, answer.text[:300]
        assert answer.content == shaped(current)
        assert answer.headers["content-length"] == str(len(shaped(current)))
        assert answer.headers["last-modified"] == first.headers["last-modified"]
        if status == 206:
            assert answer.headers["content-range"] == f"bytes 8-27/{len(current)}"
        if not asked:
            assert answer.headers["etag"] == first.headers["etag"]
    # The hooks' publishes are what is served next.
    assert _get(server).content == versions[len(CASES)]
