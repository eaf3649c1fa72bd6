"""Data responses shared by both API generations: headers, ETags, streaming bodies.

SODA 2.1 (``/resource``) and SODA3 (``/api/v3``) answer a query with the same rows, the same
headers and the same serialization; only how the query arrives differs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import anyio
import anyio.to_thread
from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from blotter.access import visible_version
from blotter.api.csv_export import csv_body, whole_export
from blotter.api.filenames import download_filename
from blotter.api.serialize import soda_type_name, stream_csv, stream_geojson, stream_json
from blotter.auth import viewer_of
from blotter.errors import BlotterError
from blotter.model import Dataset
from blotter.portal import Portal, portal_of
from blotter.queries import (
    PreparedQuery,
    answer_key,
    answers,
    dataset_tag,
    http_date,
    last_modified,
    not_modified,
    query_key,
    run,
)
from blotter.soql.compiler import Output
from blotter.store.common import now

Streamer = Callable[[list[Output], Iterable[tuple[Any, ...]]], Iterator[bytes]]
FORMATS: dict[str, tuple[str, Streamer]] = {
    "json": ("application/json; charset=utf-8", stream_json),
    "csv": ("text/csv; charset=utf-8", stream_csv),
    "geojson": ("application/vnd.geo+json; charset=utf-8", stream_geojson),
}
# Answers up to this size are written whole before the response starts; larger ones stream.
WHOLE_ANSWER_BYTES = 256 * 1024
STREAM_THREADS = 64
_stream_threads: anyio.CapacityLimiter | None = None
log = logging.getLogger(__name__)


def data_response(
    request: Request,
    dataset_id: str,
    fmt: str,
    prepare: Callable[[Portal, Dataset], PreparedQuery],
    *,
    etag_key: object,
    download: bool = False,
    attach: bool = False,
    about: str = "",
    bom: bool = False,
    whole: bool = False,
    version: int | None = None,
) -> Response:
    """Run a query and stream its rows with Socrata's headers; 304 when the request's
    conditions (If-None-Match, If-Modified-Since) say the client holds this answer already.

    A ``download`` (or an ``attach``ed answer) is sent as a file named for the dataset, the
    filter (``about``) and the day. A ``whole`` CSV (every row, every column the viewer
    sees, as ``rows.csv`` without parameters) is sent from the version's export file.
    ``version`` reads that version as it was served (``$$version``); the headers say which
    version answered and whether it is the newest."""
    portal = portal_of(request)
    viewer = viewer_of(request, portal.store)
    dataset, newest = visible_version(portal.store, viewer, dataset_id, version)
    # The tag names the version, the columns served (staff may see more) with their words,
    # the metadata, the query and the format: it changes whenever the answer may.
    etag = dataset_tag(dataset, fmt, etag_key, bom, download)
    modified = last_modified(dataset)
    headers = {"ETag": etag, "Last-Modified": http_date(modified)}
    # The answer depends on who asks (internal columns), so caches must key on credentials,
    # and never keep a staff answer where the public could be handed it.
    headers["Vary"] = "Authorization, Cookie, X-App-Token"
    if viewer.user is not None:
        headers["Cache-Control"] = "private, no-store"
    if not_modified(
        request.headers.get("if-none-match"),
        request.headers.get("if-modified-since"),
        etag,
        modified,
    ):
        # RFC 9110 §15.4.5: no body, and the validators and caching headers a 200 would send.
        return Response(status_code=304, headers=headers)
    media_type, streamer = FORMATS[fmt]
    prepared = prepare(portal, dataset)
    headers |= {
        "X-SODA2-Fields": json.dumps([o.name for o in prepared.outputs]),
        "X-SODA2-Types": json.dumps([soda_type_name(o) for o in prepared.outputs]),
        "X-SODA2-Truth-Last-Modified": headers["Last-Modified"],
        # Socrata's signal that the rows are not the newest; ours names the versions.
        "X-SODA2-Data-Out-Of-Date": "true" if dataset.version != newest else "false",
        "X-Blotter-Version": str(dataset.version),
        "X-Blotter-Newest-Version": str(newest),
    }
    if download or attach:
        name = download_filename(dataset.meta.name, dataset.id, about, fmt, now().date())
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    if whole:
        sent = whole_export(portal, dataset, media_type, headers, bom=bom)
        if isinstance(sent, Response):
            return sent
        # The first request: streamed while its file is written, never kept in memory.
        body = _joined(["\ufeff".encode()], sent) if bom else sent
        return _answer(body, media_type, headers, request.scope["path"], lambda _: None, 0)
    # The same question about the same version is answered from memory, pages and API alike.
    cache = answers(portal.store, portal.settings)
    key = answer_key(dataset, query_key(portal.store, prepared), f"{fmt};bom={bom}")
    kept = cache.get(key)
    if kept is not None:
        return Response(kept, media_type=media_type, headers=headers)
    if fmt == "csv":
        body = csv_body(portal, prepared)
    else:
        result = run(portal.store, prepared, portal.settings, keep=False)
        body = streamer(result.outputs, result.rows)
    if bom and fmt == "csv":  # Socrata's $$bom: Excel then reads the CSV as UTF-8
        body = _joined(["\ufeff".encode()], body)
    return _answer(
        body,
        media_type,
        headers,
        request.scope["path"],
        lambda whole: cache.put(key, whole, len(whole)),
        cache.item_bytes,
    )


def _answer(
    body: Iterator[bytes],
    media_type: str,
    headers: dict[str, str],
    path: str,
    keep: Callable[[bytes], object],
    keep_bytes: int,
) -> Response:
    """Nearly every answer is small: write it whole here, in the request's own thread, and
    send it with a Content-Length (no hop to another thread per chunk, and an engine error
    becomes a proper status); ``keep`` is handed it. A large one streams, in constant memory;
    it is handed to ``keep`` too when it ends whole within ``keep_bytes`` (the cache's bound
    for one answer), and otherwise never held."""
    kept: list[bytes] = []
    size = 0
    for chunk in body:
        kept.append(chunk)
        size += len(chunk)
        if size > WHOLE_ANSWER_BYTES:
            chunks = _kept_while_small(_joined(kept, body), keep, keep_bytes)
            rest = _in_stream_threads(chunks, path)
            return StreamingResponse(rest, media_type=media_type, headers=headers)
    whole = b"".join(kept)
    keep(whole)
    return Response(whole, media_type=media_type, headers=headers)


def _kept_while_small(
    chunks: Iterator[bytes], keep: Callable[[bytes], object], keep_bytes: int
) -> Iterator[bytes]:
    """The chunks as they come; a copy is held until it passes ``keep_bytes`` (then
    dropped), and handed to ``keep`` if the stream ends within it."""
    held: list[bytes] | None = []
    size = 0
    try:
        for chunk in chunks:
            if held is not None:
                size += len(chunk)
                if size <= keep_bytes:
                    held.append(chunk)
                else:
                    held = None
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if held is not None:
        keep(b"".join(held))


async def _in_stream_threads(chunks: Iterator[bytes], path: str) -> AsyncIterator[bytes]:
    """Pull a streamed answer's chunks on threads of its own. A stream may hold a database
    connection; were it to wait for a thread from the pool that requests waiting for a
    connection have filled, neither would ever move (PostgreSQL's pool is smaller)."""
    global _stream_threads
    if _stream_threads is None:  # made in the event loop, on first use
        _stream_threads = anyio.CapacityLimiter(STREAM_THREADS)
    sent = 0
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None, limiter=_stream_threads)
            if chunk is None:
                return
            sent += len(chunk)
            yield chunk
    except Exception as err:
        # The status and part of the body are sent: nothing can be said in the answer now.
        # Raising makes the server drop the connection without the body's last chunk, so
        # every HTTP client reports an incomplete answer (never a short one taken as whole).
        log.warning("Answer to %s cut after %d bytes: %s", path, sent, _reason(err))
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:  # a client gone mid-stream: release the cursor and connection
            close()


def _reason(err: Exception) -> str:
    """The error on one line of the log (engines' messages span several)."""
    text = err.message if isinstance(err, BlotterError) else f"{type(err).__name__}: {err}"
    return " ".join(text.split())[:400]


def _joined(head: Iterable[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    """``head`` then ``rest``; closing it closes ``rest`` (and so the query's cursor)."""
    yield from head
    yield from rest
