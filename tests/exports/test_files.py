"""A version's whole CSV export is written once to disk, sent from there, and checksummed.

Over real HTTP (uvicorn on a loopback port) on both engines, with the access-control portal
of ``tests/portal.py``: a public dataset with an internal column. The expected bytes are
written out by hand from the rows the portal publishes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from blotter.app import create_app
from blotter.exports.files import export_body, export_file, file_stem, public_checksum, sweep
from blotter.settings import Settings
from tests.conftest import LiveServer, serve_in_thread
from tests.portal import COLUMNS, PASSWORD, PUBLIC, Portal

PUBLIC_CSV = b"case_no,offense,age\nc1,theft,19\nc2,assault,34\nc3,theft,51\n"
STAFF_CSV = (
    b"case_no,offense,age,officer_name\nc1,theft,19,Smith\nc2,assault,34,Jones\nc3,theft,51,Smith\n"
)
NEW_ROWS = {
    "case_no": ["c9", "c10"],
    "offense": ['burglary, "forced"', "theft"],
    "age": [27.5, None],
    "officer_name": ["Brown", "Smith"],
}
NEW_PUBLIC_CSV = b'case_no,offense,age\nc9,"burglary, ""forced""",27.5\nc10,theft,\n'
STAFF = ("ana", PASSWORD)  # an analyst: reads internal columns


@pytest.fixture
def server(portal: Portal) -> Iterator[LiveServer]:
    yield from serve_in_thread(create_app(portal.settings, store=portal.store))


def _exports(portal: Portal) -> Path:
    return portal.settings.data_dir / "exports"


def _csv_files(portal: Portal) -> list[Path]:
    folder = _exports(portal)
    return sorted(folder.glob("*.csv")) if folder.is_dir() else []


def _get(server: LiveServer, path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", timeout=30, **kwargs)  # type: ignore[arg-type]


def test_a_whole_export_is_written_once_and_sent_from_its_file(
    portal: Portal, server: LiveServer
) -> None:
    url = f"/api/views/{PUBLIC}/rows.csv"
    first = _get(server, url)  # streamed while the file is written
    assert first.status_code == 200, first.text
    assert first.content == PUBLIC_CSV
    assert first.headers["content-type"] == "text/csv; charset=utf-8"
    assert "accept-ranges" not in first.headers
    (written,) = _csv_files(portal)
    assert written.read_bytes() == PUBLIC_CSV
    stamp = written.stat().st_mtime_ns

    again = _get(server, url, params={"accessType": "DOWNLOAD"})  # sent from the file
    assert again.content == PUBLIC_CSV
    assert again.headers["content-length"] == str(len(PUBLIC_CSV))
    assert again.headers["accept-ranges"] == "bytes"
    assert again.headers["content-type"] == "text/csv; charset=utf-8"
    # The same validators whether streamed or sent from the file.
    assert _get(server, url).headers["etag"] == first.headers["etag"]
    assert again.headers["last-modified"] == first.headers["last-modified"]
    assert again.headers["content-disposition"].startswith('attachment; filename="pblc-0001')
    assert written.stat().st_mtime_ns == stamp, "the second answer rewrote the file"
    assert _csv_files(portal) == [written]

    part = _get(server, url, headers={"Range": "bytes=8-27"})
    assert part.status_code == 206
    assert part.content == PUBLIC_CSV[8:28]
    assert part.headers["content-range"] == f"bytes 8-27/{len(PUBLIC_CSV)}"
    assert _get(server, url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304

    bom = _get(server, url, params={"$$bom": "true"})
    assert bom.content == b"\xef\xbb\xbf" + PUBLIC_CSV
    assert bom.headers["content-length"] == str(len(PUBLIC_CSV) + 3)


def test_the_checksum_is_the_sha256_of_the_bytes_served(portal: Portal, server: LiveServer) -> None:
    dataset = portal.store.get_dataset(
        PUBLIC
    )  # every column: the checksum leaves out internal ones
    # Asked before any download: it writes the file.
    checksum = public_checksum(portal.store, portal.settings, dataset)
    assert checksum == hashlib.sha256(PUBLIC_CSV).hexdigest()
    (written,) = _csv_files(portal)
    served = _get(server, f"/api/views/{PUBLIC}/rows.csv").content
    assert hashlib.sha256(served).hexdigest() == checksum
    assert _csv_files(portal) == [written]
    # Staff download their own file, which never changes the public's or its checksum.
    staff = _get(server, f"/api/views/{PUBLIC}/rows.csv", auth=STAFF)
    assert staff.content == STAFF_CSV
    assert len(_csv_files(portal)) == 2
    assert written.read_bytes() == PUBLIC_CSV
    assert b"officer_name" not in served and b"Smith" not in served
    assert public_checksum(portal.store, portal.settings, dataset) == checksum


def test_filtered_exports_stream_and_write_no_file(portal: Portal, server: LiveServer) -> None:
    answer = _get(server, f"/api/views/{PUBLIC}/rows.csv", params={"offense": "theft"})
    assert answer.content == b"case_no,offense,age\nc1,theft,19\nc3,theft,51\n"
    limited = _get(server, f"/resource/{PUBLIC}.csv", params={"$limit": "1"})
    assert limited.content == b"case_no,offense,age\nc1,theft,19\n"
    assert "accept-ranges" not in answer.headers
    assert _csv_files(portal) == []


def test_a_publish_makes_the_next_export_the_new_version_s(
    portal: Portal, server: LiveServer
) -> None:
    old = portal.store.get_dataset(PUBLIC)
    url = f"/api/views/{PUBLIC}/rows.csv"
    assert _get(server, url).content == PUBLIC_CSV
    assert _get(server, url, auth=STAFF).content == STAFF_CSV
    old_sums = sorted(_exports(portal).glob("*.sha256"))
    assert len(old_sums) == 2

    portal.store.publish(PUBLIC, COLUMNS, [pa.record_batch(NEW_ROWS)])
    new = portal.store.get_dataset(PUBLIC)
    assert new.version == old.version + 1
    answer = _get(server, url)
    assert answer.content == NEW_PUBLIC_CSV
    # The old version's files are gone, their checksums kept; the new one's is written.
    (written,) = _csv_files(portal)
    assert written.name.startswith(f"{PUBLIC}-v{new.version}-")
    assert all(path.exists() for path in old_sums)
    assert (
        public_checksum(portal.store, portal.settings, old)
        == hashlib.sha256(PUBLIC_CSV).hexdigest()
    )
    assert (
        public_checksum(portal.store, portal.settings, new)
        == hashlib.sha256(NEW_PUBLIC_CSV).hexdigest()
    )


def test_two_first_requests_at_once_both_get_the_whole_file(
    portal: Portal, server: LiveServer
) -> None:
    answers: list[bytes] = []
    start = threading.Barrier(4)

    def fetch() -> None:
        start.wait()
        answers.append(_get(server, f"/api/views/{PUBLIC}/rows.csv").content)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [PUBLIC_CSV] * 4
    assert len(_csv_files(portal)) == 1
    assert not list(_exports(portal).glob("*.tmp"))


def test_a_half_written_file_is_never_served_and_is_swept_once_abandoned(
    portal: Portal, server: LiveServer
) -> None:
    """A writer killed mid-file leaves only its temporary file, under another name."""
    dataset = portal.store.get_dataset(PUBLIC)
    folder = _exports(portal)
    folder.mkdir(parents=True)
    stem = file_stem(portal.store.get_dataset(PUBLIC).model_copy(update={"columns": COLUMNS[:3]}))
    left = folder / f".{stem}.csv.4242.deadbeef.tmp"
    left.write_bytes(PUBLIC_CSV[:20])
    assert _get(server, f"/api/views/{PUBLIC}/rows.csv").content == PUBLIC_CSV
    assert left.exists(), "a temporary file being written must not be removed"
    os.utime(left, (0, 0))
    sweep(portal.store, portal.settings)
    assert not left.exists()
    assert export_file(portal.store, portal.settings, dataset).path.read_bytes() == STAFF_CSV


def test_files_beyond_the_size_bound_are_removed_oldest_first(portal: Portal) -> None:
    settings: Settings = portal.settings.model_copy(update={"export_files_mb": 0})
    dataset = portal.store.get_dataset(PUBLIC)
    first = export_file(portal.store, settings, dataset.model_copy(update={"columns": COLUMNS[:3]}))
    second = export_file(portal.store, settings, dataset)
    assert not first.path.exists() and second.path.exists()  # the one just written stays
    assert second.path.read_bytes() == STAFF_CSV
    # A removed file's checksum is kept (nothing is written to tell it); the file itself is
    # written again when asked.
    assert (
        public_checksum(portal.store, settings, dataset) == hashlib.sha256(PUBLIC_CSV).hexdigest()
    )
    assert not first.path.exists()
    again = export_file(portal.store, settings, dataset.model_copy(update={"columns": COLUMNS[:3]}))
    assert again.path.read_bytes() == PUBLIC_CSV and again.sha256 == first.sha256
    assert not second.path.exists()


def test_a_first_download_cut_short_leaves_no_file_and_frees_the_writer(portal: Portal) -> None:
    dataset = portal.store.get_dataset(PUBLIC)
    body = export_body(portal.store, portal.settings, dataset)
    assert next(body) == STAFF_CSV  # the file is renamed into place only after the last chunk
    assert list(_exports(portal).glob(".*.tmp"))
    body.close()  # the client went away
    assert not list(_exports(portal).iterdir())
    # Nobody holds the file's writer: the next one writes it.
    assert b"".join(export_body(portal.store, portal.settings, dataset)) == STAFF_CSV
    assert export_file(portal.store, portal.settings, dataset).path.read_bytes() == STAFF_CSV
