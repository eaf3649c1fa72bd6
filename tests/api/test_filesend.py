"""A whole export sent from its file answers byte ranges as HTTP asks (RFC 9110 §14), on both
engines over real HTTP: one span, spans merged, several spans as multipart/byteranges, a
start past the end or a header naming no span (416), another unit (ignored), If-Range. Expected bytes are cut
from the CSV written out by hand."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from blotter.app import create_app
from tests.conftest import LiveServer, serve_in_thread
from tests.exports.test_files import PUBLIC_CSV
from tests.portal import PUBLIC, Portal

URL = f"/api/views/{PUBLIC}/rows.csv"
SIZE = len(PUBLIC_CSV)
# Range header → (status, the bytes of the one span sent, or None) for a single answer.
SINGLE = [
    ("bytes=8-27", 206, (8, 28)),
    ("bytes=50-", 206, (50, SIZE)),
    ("bytes=-5", 206, (SIZE - 5, SIZE)),
    ("bytes=0-500", 206, (0, SIZE)),  # cut at the end
    ("bytes=0-9, 5-14", 206, (0, 15)),  # overlapping spans merged into one
    ("bytes=100-", 416, None),
    ("bytes=5-3", 416, None),
    ("bytes=x-y", 416, None),
    ("items=0-5", 200, None),  # a unit the server does not know is ignored (RFC 9110 §14.2)
]


@pytest.fixture
def server(portal: Portal) -> Iterator[LiveServer]:
    live = serve_in_thread(create_app(portal.settings, store=portal.store))
    server = next(live)
    first = httpx.get(f"{server.url}{URL}", timeout=30)  # writes the file
    assert first.content == PUBLIC_CSV and "accept-ranges" not in first.headers
    yield server
    live.close()


def _get(server: LiveServer, **headers: str) -> httpx.Response:
    return httpx.get(f"{server.url}{URL}", headers=headers, timeout=30)


def test_single_ranges_and_refusals(server: LiveServer) -> None:
    for asked, status, span in SINGLE:
        answer = _get(server, Range=asked)
        assert answer.status_code == status, (asked, answer.text)
        if span is not None:
            start, end = span
            assert answer.content == PUBLIC_CSV[start:end], asked
            assert answer.headers["content-range"] == f"bytes {start}-{end - 1}/{SIZE}"
            assert answer.headers["content-length"] == str(end - start)
        if status == 416:
            assert answer.headers["content-range"] == f"bytes */{SIZE}"
            assert "span" in answer.text  # says why
        if status == 200:
            assert answer.content == PUBLIC_CSV and "content-range" not in answer.headers


def test_several_spans_come_as_multipart_byteranges(server: LiveServer) -> None:
    answer = _get(server, Range="bytes=0-4, 20-31")
    assert answer.status_code == 206
    kind = answer.headers["content-type"]
    (boundary,) = re.fullmatch(r"multipart/byteranges; boundary=(\w+)", kind).groups()  # type: ignore[union-attr]
    assert answer.headers["content-length"] == str(len(answer.content))
    head = "Content-Type: text/csv; charset=utf-8\r\nContent-Range: bytes {}-{}/" + str(SIZE)
    expected = (
        f"--{boundary}\r\n{head.format(0, 4)}\r\n\r\n".encode()
        + PUBLIC_CSV[0:5]
        + f"\r\n--{boundary}\r\n{head.format(20, 31)}\r\n\r\n".encode()
        + PUBLIC_CSV[20:32]
        + f"\r\n--{boundary}--".encode()
    )
    assert answer.content == expected


def test_if_range_sends_the_span_only_for_this_version(server: LiveServer) -> None:
    whole = _get(server)
    assert whole.status_code == 200 and whole.content == PUBLIC_CSV
    for validator in (whole.headers["etag"], whole.headers["last-modified"]):
        same = _get(server, Range="bytes=8-27", **{"If-Range": validator})
        assert same.status_code == 206 and same.content == PUBLIC_CSV[8:28]
    other = _get(server, Range="bytes=8-27", **{"If-Range": '"another version"'})
    assert other.status_code == 200 and other.content == PUBLIC_CSV
    assert other.headers["content-length"] == str(SIZE)
    # $$bom: three bytes before the file, whole, ranges not offered.
    bom = httpx.get(f"{server.url}{URL}", params={"$$bom": "true"}, headers={"Range": "bytes=0-1"})
    assert bom.status_code == 200 and bom.content == b"\xef\xbb\xbf" + PUBLIC_CSV
    assert "accept-ranges" not in bom.headers
